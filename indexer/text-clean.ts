/**
 * open_clip's text clean-up ("lower"), ported so that the TypeScript tokenizer sees exactly the
 * string that Python's SimpleTokenizer sees:
 *
 *   whitespace_clean(basic_clean(text)).lower()
 *   basic_clean(text) = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
 *
 * `fixText` is a port of ftfy 6.3's `fix_text` with its default configuration: HTML entity
 * unescaping ("auto": skipped once a line contains '<'), mojibake repair (re-encoding through
 * ftfy's single-byte encodings and decoding as UTF-8, with `restore_byte_a0`,
 * `replace_lossy_sequences`, the `utf-8-variants` codec and `decode_inconsistent_utf8`), C1
 * controls, Latin ligatures, character width, curly quotes, line breaks, surrogates, terminal
 * escapes, control characters and NFC. The character tables come from the venv's ftfy, CPython
 * and the `regex` module (indexer/tables/).
 *
 * Known, deliberately accepted gaps (none are reachable with text that is valid in both
 * Unicode versions involved):
 * - Python's lower() and NFC use CPython's Unicode 14 database; characters unassigned there are
 *   left alone here too (PY_UNASSIGNED), but the final-sigma rule next to such characters follows
 *   the newer Unicode of Node's ICU.
 */
import {
  BADNESS_SOURCE,
  CHARMAPS,
  FTFY_UPPER_ENTITIES,
  HTML5_ENTITIES,
  LIGATURES,
  PY_SPACE,
  PY_UNASSIGNED,
  STRICT_WINDOWS_1252,
  UTF8_DETECTOR_SOURCE,
  WIDTH_MAP,
} from './tables/clip-text-data.js';

// ---------------------------------------------------------------------------------------------
// Python string helpers

const SPACE_SET = new Set(PY_SPACE);
const SPACE_CLASS = PY_SPACE.map((cp) => `\\u{${cp.toString(16)}}`).join('');
const SPACE_RUN_RE = new RegExp(`[${SPACE_CLASS}]+`, 'gu');
const STRIP_RE = new RegExp(`^[${SPACE_CLASS}]+|[${SPACE_CLASS}]+$`, 'gu');

/** Python's `s.strip()` (no arguments). */
export function pyStrip(s: string): string {
  return s.replace(STRIP_RE, '');
}

/** Python's `" ".join(s.split()).strip()` — open_clip's whitespace_clean. */
export function whitespaceClean(s: string): string {
  return pyStrip(s).replace(SPACE_RUN_RE, ' ');
}

export function isPySpace(cp: number): boolean {
  return SPACE_SET.has(cp);
}

function inRanges(ranges: Array<[number, number]>, cp: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = ranges[mid];
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

const PY_UNASSIGNED_RE = new RegExp(
  `[${PY_UNASSIGNED.map(([a, b]) => (a === b ? `\\u{${a.toString(16)}}` : `\\u{${a.toString(16)}}-\\u{${b.toString(16)}}`)).join('')}]`,
  'u',
);
const PY_UNASSIGNED_SPLIT_RE = new RegExp(`(${PY_UNASSIGNED_RE.source})`, 'u');

/** Applies `f` to the runs of characters Python's Unicode database knows, leaving others alone. */
function mapKnownRuns(s: string, f: (run: string) => string): string {
  if (!PY_UNASSIGNED_RE.test(s)) return f(s);
  const parts = s.split(PY_UNASSIGNED_SPLIT_RE);
  // split with a capture group alternates known runs (even) and single unknown chars (odd).
  return parts.map((p, i) => (i % 2 === 0 && p ? f(p) : p)).join('');
}

/** Python's `str.lower()`. */
export function pyLower(s: string): string {
  return mapKnownRuns(s, (r) => r.toLowerCase());
}

/** Python's `unicodedata.normalize('NFC', s)`. */
export function pyNfc(s: string): string {
  return mapKnownRuns(s, (r) => r.normalize('NFC'));
}

export { inRanges as inCodePointRanges };

// ---------------------------------------------------------------------------------------------
// html.unescape (CPython 3.11)

const INVALID_CHARREFS: Record<number, string> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e',
  0x85: '\u2026', 0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039',
  0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f', 0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019',
  0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122',
  0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};

function isInvalidCodepoint(n: number): boolean {
  return (
    (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe
  );
}

const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(_m: string, s: string): string {
  if (s[0] === '#') {
    const digits = s[1] === 'x' || s[1] === 'X' ? s.slice(2) : s.slice(1);
    const clean = digits.endsWith(';') ? digits.slice(0, -1) : digits;
    // Python ints are unbounded; anything past 0x10FFFF is a replacement character anyway.
    const big = BigInt(s[1] === 'x' || s[1] === 'X' ? `0x${clean}` : clean);
    if (big > 0x10ffffn) return '\ufffd';
    const num = Number(big);
    if (num in INVALID_CHARREFS) return INVALID_CHARREFS[num];
    if (num >= 0xd800 && num <= 0xdfff) return '\ufffd';
    if (isInvalidCodepoint(num)) return '';
    return String.fromCodePoint(num);
  }
  if (Object.prototype.hasOwnProperty.call(HTML5_ENTITIES, s)) return HTML5_ENTITIES[s];
  const cps = Array.from(s);
  for (let x = cps.length - 1; x > 1; x--) {
    const prefix = cps.slice(0, x).join('');
    if (Object.prototype.hasOwnProperty.call(HTML5_ENTITIES, prefix)) return HTML5_ENTITIES[prefix] + cps.slice(x).join('');
  }
  return '&' + s;
}

/** Python's `html.unescape`. */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF_RE, replaceCharref);
}

// ---------------------------------------------------------------------------------------------
// ftfy: byte and encoding helpers (bytes are held as Uint8Array; byte regexes run over a
// latin-1 "binary string" where each char is one byte)

function bytesToBinary(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
}

function binaryToBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

class DecodeError extends Error {}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Python's strict UTF-8 decoding (raises on anything invalid, incl. surrogates and overlongs). */
function decodeUtf8Strict(b: Uint8Array): string {
  try {
    return utf8Fatal.decode(b);
  } catch {
    throw new DecodeError('utf-8');
  }
}

const CESU8_RE = /^\xed[\xa0-\xaf][\x80-\xbf]\xed[\xb0-\xbf][\x80-\xbf]/;
// NULL_EXPR | CESU8_EXPR | SURROGATE_EXPR from ftfy.bad_codecs.utf8_variants, on whole input.
// Python's `$` also matches before a final '\n': written here as (?=\n?$).
const SPECIAL_BYTES_RE =
  /(\xc0(\x80|(?=\n?$)))|(\xed([\xa0-\xaf]|(?=\n?$))([\x80-\xbf]|(?=\n?$))(\xed|(?=\n?$))([\xb0-\xbf]|(?=\n?$))([\x80-\xbf]|(?=\n?$)))|(\xed([\xa0-\xbf]|(?=\n?$))([\x80-\xbf]|(?=\n?$)))/;

/** ftfy's "utf-8-variants" codec (CESU-8 surrogate pairs and Java's C0 80 null), final=True. */
function decodeUtf8Variants(b: Uint8Array): string {
  const out: string[] = [];
  let bin = bytesToBinary(b);
  while (bin.length > 0) {
    const m = SPECIAL_BYTES_RE.exec(bin);
    if (!m) {
      out.push(decodeUtf8Strict(binaryToBytes(bin)));
      break;
    }
    if (m.index > 0) {
      out.push(decodeUtf8Strict(binaryToBytes(bin.slice(0, m.index))));
      bin = bin.slice(m.index);
      continue;
    }
    if (bin.startsWith('\xc0')) {
      if (bin.length > 1) {
        out.push('\u0000');
        bin = bin.slice(2);
        continue;
      }
      out.push(decodeUtf8Strict(binaryToBytes(bin)));
      break;
    }
    // surrogates
    if (bin.length < 6) {
      out.push(decodeUtf8Strict(binaryToBytes(bin)));
      break;
    }
    if (CESU8_RE.test(bin)) {
      const c = (i: number) => bin.charCodeAt(i);
      const cp = ((c(1) & 0x0f) << 16) + ((c(2) & 0x3f) << 10) + ((c(4) & 0x0f) << 6) + (c(5) & 0x3f) + 0x10000;
      out.push(String.fromCodePoint(cp));
      bin = bin.slice(6);
      continue;
    }
    // Python hands three bytes to the UTF-8 decoder with final=False: an invalid sequence raises.
    out.push(decodeUtf8Strict(binaryToBytes(bin.slice(0, 3))));
    bin = bin.slice(3);
  }
  return out.join('');
}

interface Charmap {
  name: string;
  decode: number[];
  encode: Map<number, number>;
  /** Code points that `possible_encoding` accepts. */
  possible: Set<number>;
}

const CHARMAP_LIST: Charmap[] = Object.entries(CHARMAPS).map(([name, decode]) => {
  const encode = new Map<number, number>();
  decode.forEach((cp, byte) => encode.set(cp, byte));
  const possible = new Set<number>();
  for (let cp = 0; cp < 0x80; cp++) if (cp !== 0x1a) possible.add(cp);
  for (let b = 0x80; b < 0x100; b++) possible.add(decode[b]);
  possible.add(decode[0x1a]);
  return { name, decode, encode, possible };
});
const LATIN1 = CHARMAP_LIST.find((c) => c.name === 'latin-1')!;
const SLOPPY_1252 = CHARMAP_LIST.find((c) => c.name === 'sloppy-windows-1252')!;

function possibleEncoding(text: string, cm: Charmap): boolean {
  for (const ch of text) if (!cm.possible.has(ch.codePointAt(0)!)) return false;
  return true;
}

function isAscii(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text);
}

function encodeCharmap(text: string, cm: Charmap): Uint8Array {
  const cps = Array.from(text, (ch) => ch.codePointAt(0)!);
  const out = new Uint8Array(cps.length);
  cps.forEach((cp, i) => {
    const b = cm.encode.get(cp);
    if (b === undefined) throw new Error(`internal: ${cm.name} cannot encode U+${cp.toString(16)}`);
    out[i] = b;
  });
  return out;
}

function decodeCharmap(b: Uint8Array, table: number[]): string {
  let s = '';
  for (const byte of b) {
    const cp = table[byte];
    if (cp < 0) throw new DecodeError('charmap');
    s += String.fromCodePoint(cp);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// ftfy: fixes

const BADNESS_RE = new RegExp(BADNESS_SOURCE, 'u');
const UTF8_DETECTOR_RE = new RegExp(UTF8_DETECTOR_SOURCE, 'gu');
const UTF8_DETECTOR_TEST = new RegExp(UTF8_DETECTOR_SOURCE, 'u');

export function isBad(text: string): boolean {
  return BADNESS_RE.test(text);
}

const HTML_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

function unescapeFixup(text: string): string {
  const name = text.slice(1);
  if (name.endsWith(';') && Object.prototype.hasOwnProperty.call(HTML5_ENTITIES, name)) return HTML5_ENTITIES[name];
  if (Object.prototype.hasOwnProperty.call(FTFY_UPPER_ENTITIES, text)) return FTFY_UPPER_ENTITIES[text];
  if (text.startsWith('&#')) {
    const unescaped = htmlUnescape(text);
    return unescaped.includes(';') ? text : unescaped;
  }
  return text;
}

/** ftfy.fixes.unescape_html */
export function ftfyUnescapeHtml(text: string): string {
  return text.replace(HTML_ENTITY_RE, unescapeFixup);
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[((?:\d|;)*)([a-zA-Z])/g;

function removeTerminalEscapes(text: string): string {
  return text.replace(ANSI_RE, '');
}

function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

const LIGATURE_MAP = new Map(LIGATURES);
const LIGATURE_RE = new RegExp(`[${LIGATURES.map(([cp]) => `\\u{${cp.toString(16)}}`).join('')}]`, 'gu');
function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_RE, (c) => LIGATURE_MAP.get(c.codePointAt(0)!)!);
}

const WIDTH = new Map(WIDTH_MAP);
const WIDTH_RE = new RegExp(`[${WIDTH_MAP.map(([cp]) => `\\u{${cp.toString(16)}}`).join('')}]`, 'gu');
function fixCharacterWidth(text: string): string {
  return text.replace(WIDTH_RE, (c) => WIDTH.get(c.codePointAt(0)!)!);
}

function fixLineBreaks(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(/\r/g, '\n').replace(/\u2028/g, '\n').replace(/\u2029/g, '\n').replace(/\u0085/g, '\n');
}

function fixSurrogates(text: string): string {
  // Paired surrogates are already one code point in a JS string; lone ones become U+FFFD.
  return text.replace(/[\ud800-\udfff]/gu, '\ufffd');
}

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
function removeControlChars(text: string): string {
  return text.replace(CONTROL_RE, '');
}

const C1_RE = /[\x80-\x9f]/;
function fixC1Controls(text: string): string {
  return text.replace(/[\x80-\x9f]/g, (c) => String.fromCodePoint(SLOPPY_1252.decode[c.charCodeAt(0)]));
}

// Byte-level expressions (over binary strings).
const ALTERED_UTF8_RE =
  /[\xc2\xc3\xc5\xce\xd0\xd9][ ]|[\xe2\xe3][ ][\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf][ ]|[\xf0][ ][\x80-\xbf][\x80-\xbf]|[\xf0][\x80-\xbf][ ][\x80-\xbf]|[\xf0][\x80-\xbf][\x80-\xbf][ ]/g;
const ALTERED_UTF8_TEST = new RegExp(ALTERED_UTF8_RE.source);
const A_GRAVE_WORD_RE = /\xc3 (?! |quele|quela|quilo|s )/g;
const LOSSY_UTF8_RE =
  /[\xc2-\xdf][\x1a]|[\xc2-\xc3][?]|\xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]|\xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]|[\xe0-\xef][\x1a?][\x1a\x80-\xbf]|[\xe0-\xef][\x1a\x80-\xbf][\x1a?]|[\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]|\x1a/g;

function restoreByteA0(bin: string): string {
  return bin.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ').replace(ALTERED_UTF8_RE, (m) => m.replace(/ /g, '\xa0'));
}

function replaceLossySequences(bin: string): string {
  return bin.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
}

function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_RE, (substr) => {
    if (substr.length < text.length && isBad(substr)) return fixEncoding(substr);
    return substr;
  });
}

function fixEncodingOneStep(text: string): string {
  if (text.length === 0) return text;
  if (isAscii(text) || !isBad(text)) return text;
  const possible: string[] = [];
  for (const cm of CHARMAP_LIST) {
    if (!possibleEncoding(text, cm)) continue;
    possible.push(cm.name);
    let bin = bytesToBinary(encodeCharmap(text, cm));
    try {
      if (cm.name !== 'macroman' && ALTERED_UTF8_TEST.test(bin)) bin = restoreByteA0(bin);
      if (cm.name.startsWith('sloppy')) bin = replaceLossySequences(bin);
      const bytes = binaryToBytes(bin);
      if (bin.includes('\xed') || bin.includes('\xc0')) return decodeUtf8Variants(bytes);
      return decodeUtf8Strict(bytes);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
  if (UTF8_DETECTOR_TEST.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  // ftfy checks for "windows-1252" among the possible encodings, a name that is never in its list
  // (it lists "sloppy-windows-1252"), so Latin-1 text is always tried as strict Windows-1252.
  if (possible.includes('latin-1')) {
    try {
      const fixed = decodeCharmap(encodeCharmap(text, LATIN1), STRICT_WINDOWS_1252);
      if (fixed !== text) return fixed;
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
  if (C1_RE.test(text)) return fixC1Controls(text);
  return text;
}

/** ftfy.fix_encoding */
export function fixEncoding(text: string): string {
  for (;;) {
    const prev = text;
    text = fixEncodingOneStep(text);
    if (text === prev) return text;
  }
}

function fixSegment(text: string, unescape: boolean): string {
  if (text.includes('<')) unescape = false;
  for (;;) {
    const orig = text;
    if (unescape) text = ftfyUnescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = pyNfc(text);
    if (text === orig) return text;
  }
}

const MAX_DECODE_LENGTH = 1_000_000;

/** ftfy.fix_text with the default configuration. */
export function fixText(text: string): string {
  // ftfy works in code points; segments end after each '\n' or every 1,000,000 code points.
  const out: string[] = [];
  let unescape = true;
  let pos = 0;
  const cps = text.length > MAX_DECODE_LENGTH ? Array.from(text) : null;
  if (!cps) {
    while (pos < text.length) {
      let brk = text.indexOf('\n', pos) + 1;
      if (brk === 0) brk = text.length;
      const segment = text.slice(pos, brk);
      // "auto": once a segment holds '<', ftfy turns unescaping off for the rest of the text.
      if (segment.includes('<')) unescape = false;
      out.push(fixSegment(segment, unescape));
      pos = brk;
    }
    return out.join('');
  }
  while (pos < cps.length) {
    let brk = cps.indexOf('\n', pos) + 1;
    if (brk === 0) brk = cps.length;
    if (brk - pos > MAX_DECODE_LENGTH) brk = pos + MAX_DECODE_LENGTH;
    const segment = cps.slice(pos, brk).join('');
    if (segment.includes('<')) unescape = false;
    out.push(fixSegment(segment, unescape));
    pos = brk;
  }
  return out.join('');
}

/** open_clip's `_clean_lower`: the exact string its SimpleTokenizer pre-tokenises. */
export function cleanLower(text: string): string {
  let t = fixText(text);
  t = htmlUnescape(htmlUnescape(t));
  t = pyStrip(t);
  return pyLower(whitespaceClean(t));
}
