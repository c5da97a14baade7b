/**
 * The CLIP byte-level BPE tokenizer, reproducing open_clip's SimpleTokenizer id for id:
 * clean-up (`cleanLower`: ftfy, HTML-unescape twice, whitespace collapse, lower-case), open_clip's
 * pre-tokenisation regex, byte-level BPE over `bpe_simple_vocab_16e6.txt.gz`, then
 * `<start_of_text> … <end_of_text>` truncated to the context length with `<end_of_text>` last
 * and zero padding.
 */
import { readFileSync } from 'node:fs';
import { crc32, gunzipSync } from 'node:zlib';
import { UserError } from '../core/errors.js';
import { cleanLower } from './text-clean.js';
import { TOKEN_LETTER_CLASS, TOKEN_LITERAL_FOLDS, TOKEN_NUMBER_CLASS, TOKEN_OTHER_CLASS } from './tables/clip-text-data.js';

export const VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';
const START = '<start_of_text>';
const END = '<end_of_text>';

/** GPT-2's reversible byte → printable character table. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i])));
  return table;
}

/** A literal matched the way the regex module matches it with IGNORECASE. */
function foldLiteral(lit: string): string {
  return Array.from(lit, (ch) => {
    const cps = TOKEN_LITERAL_FOLDS[ch];
    if (!cps) throw new Error(`internal: no fold table for ${JSON.stringify(ch)}`);
    const alts = cps.map((cp) => `\\u{${cp.toString(16)}}`).join('');
    return cps.length === 1 ? alts : `[${alts}]`;
  }).join('');
}

/** open_clip: `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` with IGNORECASE. */
const PAT = new RegExp(
  [START, END, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map(foldLiteral).join('|') +
    `|[${TOKEN_LETTER_CLASS}]+|[${TOKEN_NUMBER_CLASS}]|[${TOKEN_OTHER_CLASS}]+`,
  'gu',
);

export interface TokenizerOptions {
  contextLength?: number;
  /** Entries kept in the word → BPE cache (the cache never changes results). */
  cacheSize?: number;
}

/** The parsed vocabulary: shared by every tokenizer built from the same file contents. */
interface Vocab {
  encoder: Map<string, number>;
  decoder: string[];
  ranks: Map<string, number>;
}

const VOCAB_CACHE = new Map<string, Vocab>();

function parseVocab(bytes: Uint8Array | string): Vocab {
  const key = typeof bytes === 'string' ? `t${bytes.length}:${crc32(bytes)}` : `b${bytes.byteLength}:${crc32(bytes)}`;
  const hit = VOCAB_CACHE.get(key);
  if (hit) return hit;
  const text = typeof bytes === 'string' ? bytes : gunzipSync(bytes).toString('utf8');
  // open_clip: merges = lines[1 : 49152 - 256 - 2 + 1]
  const wanted = 49152 - 256 - 2;
  const ranks = new Map<string, number>();
  const vocabList: string[] = [];
  // Python: list(bytes_to_unicode().values()), in the dict's insertion order, then with '</w>'.
  for (const c of orderedByteChars()) vocabList.push(c);
  for (const c of orderedByteChars()) vocabList.push(c + '</w>');
  let pos = text.indexOf('\n') + 1;
  for (let i = 0; i < wanted; i++) {
    if (pos <= 0 || pos >= text.length) throw new UserError(`bad BPE merges file: it ends after ${i} merges, expected ${wanted}`, 'bad_model');
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end).trim();
    const sp = line.indexOf(' ');
    if (sp <= 0 || sp === line.length - 1 || line.indexOf(' ', sp + 1) >= 0) {
      throw new UserError(`bad BPE merges file: line ${i + 2} is ${JSON.stringify(line)}`, 'bad_model');
    }
    ranks.set(line, i);
    vocabList.push(line.slice(0, sp) + line.slice(sp + 1));
    pos = end + 1;
  }
  vocabList.push(START, END);
  const encoder = new Map<string, number>();
  vocabList.forEach((tok, i) => encoder.set(tok, i));
  const vocab = { encoder, decoder: vocabList, ranks };
  if (VOCAB_CACHE.size >= 4) VOCAB_CACHE.clear();
  VOCAB_CACHE.set(key, vocab);
  return vocab;
}

export class ClipTokenizer {
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly sotTokenId: number;
  readonly eotTokenId: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  private readonly ranks: Map<string, number>;
  private readonly byteEncoder = bytesToUnicode();
  private readonly byteDecoder = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly cacheSize: number;
  private readonly utf8 = new TextEncoder();

  /** `vocab`: the gzipped merges file's bytes (or already-decompressed text). */
  constructor(vocab: Uint8Array | string, opts: TokenizerOptions = {}) {
    this.contextLength = opts.contextLength ?? 77;
    this.cacheSize = opts.cacheSize ?? 100_000;
    if (!Number.isInteger(this.contextLength) || this.contextLength < 2) {
      throw new UserError(`tokenizer context length must be an integer ≥ 2, got ${this.contextLength}`, 'bad_model');
    }
    let parsed: Vocab;
    try {
      parsed = parseVocab(vocab);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`cannot read the BPE vocabulary: ${(err as Error).message}`, 'bad_model');
    }
    this.encoder = parsed.encoder;
    this.decoder = parsed.decoder;
    this.ranks = parsed.ranks;
    this.byteEncoder.forEach((c, b) => this.byteDecoder.set(c, b));
    this.vocabSize = this.decoder.length;
    this.sotTokenId = this.encoder.get(START)!;
    this.eotTokenId = this.encoder.get(END)!;
  }

  static fromFile(path: string, opts: TokenizerOptions = {}): ClipTokenizer {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new UserError(`cannot read the tokenizer vocabulary ${path}: ${(err as Error).message}`, 'bad_model');
    }
    return new ClipTokenizer(bytes, opts);
  }

  /** BPE of one pre-token (already mapped through the byte table); returns vocabulary ids. */
  private bpe(token: string): number[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    let ids: number[];
    if (token === START || token === END) {
      ids = [this.encoder.get(token)!];
    } else {
      const chars = Array.from(token);
      let word = chars.slice(0, -1).concat(chars[chars.length - 1] + '</w>');
      if (word.length === 1) {
        ids = [this.lookup(word[0])];
      } else {
        for (;;) {
          // The pair with the lowest merge rank.
          let best = -1;
          let bestRank = Infinity;
          for (let i = 0; i < word.length - 1; i++) {
            const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
            if (r !== undefined && r < bestRank) {
              bestRank = r;
              best = i;
            }
          }
          if (best < 0) break;
          const first = word[best];
          const second = word[best + 1];
          const merged: string[] = [];
          let i = 0;
          while (i < word.length) {
            const j = word.indexOf(first, i);
            if (j < 0) {
              for (let k = i; k < word.length; k++) merged.push(word[k]);
              break;
            }
            for (let k = i; k < j; k++) merged.push(word[k]);
            i = j;
            if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
              merged.push(first + second);
              i += 2;
            } else {
              merged.push(word[i]);
              i += 1;
            }
          }
          word = merged;
          if (word.length === 1) break;
        }
        ids = word.map((w) => this.lookup(w));
      }
    }
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(token, ids);
    return ids;
  }

  private lookup(piece: string): number {
    const id = this.encoder.get(piece);
    if (id === undefined) throw new Error(`internal: BPE piece ${JSON.stringify(piece)} is not in the vocabulary`);
    return id;
  }

  /** Token ids of `text` without start/end tokens (open_clip's `encode`). */
  encode(text: string): number[] {
    const out: number[] = [];
    const clean = cleanLower(text);
    for (const m of clean.matchAll(PAT)) {
      const tok = m[0];
      let mapped = '';
      for (const b of this.utf8.encode(tok)) mapped += this.byteEncoder[b];
      for (const id of this.bpe(mapped)) out.push(id);
    }
    return out;
  }

  /** open_clip's `__call__` for one text: ids of length contextLength. */
  tokenize(text: string, contextLength = this.contextLength): Int32Array {
    const ids = [this.sotTokenId, ...this.encode(text), this.eotTokenId];
    const row = new Int32Array(contextLength);
    if (ids.length > contextLength) {
      ids.length = contextLength;
      ids[contextLength - 1] = this.eotTokenId;
    }
    row.set(ids);
    return row;
  }

  /** A batch as one row-major BigInt64Array [texts.length × contextLength] (the ONNX input). */
  tokenizeBatch(texts: string[], contextLength = this.contextLength): BigInt64Array {
    const out = new BigInt64Array(texts.length * contextLength);
    texts.forEach((t, i) => {
      const row = this.tokenize(t, contextLength);
      for (let j = 0; j < contextLength; j++) out[i * contextLength + j] = BigInt(row[j]);
    });
    return out;
  }

  /** Ids back to text (open_clip's `decode`): for inspection and debugging. */
  decode(ids: Iterable<number>): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const piece = this.decoder[id];
      if (piece === undefined) continue;
      const word = piece.endsWith('</w>');
      const tok = word ? piece.slice(0, -4) : piece;
      for (const ch of tok) {
        const b = this.byteDecoder.get(ch);
        if (b !== undefined) bytes.push(b);
      }
      if (word) bytes.push(0x20);
    }
    return Buffer.from(bytes).toString('utf8');
  }
}

let ORDERED: string[] | null = null;
/** bytes_to_unicode().values() in Python's dict insertion order (printable bytes first). */
function orderedByteChars(): string[] {
  if (ORDERED) return ORDERED;
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  ORDERED = cs.map((c) => String.fromCodePoint(c));
  return ORDERED;
}
