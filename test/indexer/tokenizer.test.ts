import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../core/random.js';
import { ClipTokenizer } from '../../indexer/tokenizer.js';
import { pythonMissing, runPython, venvVocab } from './py-ref.js';

/** Hand-picked hard cases: ftfy's own examples, entities, mojibake, scripts, emoji, edges. */
const FIXED: string[] = [
  '',
  ' ',
  '\n\t  \r\n',
  'a photo of a cat',
  'A Photo Of A CAT.',
  'a sheep standing on the grass',
  'two aeroplanes in a blue sky, one above the other',
  "it's a dog's life; they're here, we've seen, I'm sure, you'll see, he'd go",
  "IT'S LOUD, THEY'RE HERE, I'M OUT",
  "don't can't won't shouldn't y'all o'clock rock'n'roll",
  '3 cats, 12 dogs and 1,024 birds at 10:45pm on 2023-07-14',
  'π ≈ 3.14159; e = 2.71828… √2 ≈ 1.414',
  '½ ¾ ² ³ ① ⑩ Ⅻ ٣ ४ 〇 一二三',
  'café naïve résumé coöperate façade jalapeño Ångström',
  'Straße ẞ ß İstanbul ıi ǅ ǈ ǋ',
  'ΟΔΥΣΣΕΥΣ ὈΔΥΣΣΕΎΣ σοφός Σ ΣΑΣ',
  'Ремонт и обслуживание, ЁЛКА',
  'مرحبا بالعالم',
  'שלום עולם',
  'नमस्ते दुनिया',
  'こんにちは世界、カタカナ ﾊﾝｶｸ',
  '你好，世界！这是一个测试。',
  '안녕하세요 세계',
  'ไทย ภาษา',
  '🐑🐑🐑 sheep 🐑 on grass 🌱',
  '👩‍👩‍👧‍👦 family 👍🏽 thumbs 🏴󠁧󠁢󠁷󠁬󠁳󠁿 wales 🇫🇷 flag',
  '❤️ ✔ ☃ ★ ☆ ♠ ♥',
  '&amp; &lt; &gt; &quot; &#39; &apos; &nbsp;',
  'Tom &amp; Jerry',
  'Tom &amp;amp; Jerry',
  'Tom &amp;amp;amp; Jerry',
  'caf&eacute; &EACUTE; &NTILDE; &nTILDE; P&EACUTE;REZ BUNDESSTRA&SZLIG;E',
  '&Jscr;ohn &HilbertSpace;ancock &checkmark;',
  '&#x1F411; &#128017; &#0; &#x80; &#x9F; &#xD800; &#x110000; &#99999999999999999999;',
  '&#65 &#x41 &#65; &notit; &not it &notin; &ampx &amp',
  'this&not that, AT&T, R&D, Q&A, a&b;c',
  '<b>bold</b> &amp; <i>italic</i>',
  'line one &amp; two\n<br> then &amp; again\nand &amp; more',
  'Broken text&hellip; it&#x2019;s ﬂubberiﬁc!',
  'ＬＯＵＤ　ＮＯＩＳＥＳ',
  'Ｕﾀｰﾝ',
  '“here’s a test” ‘single’ „low“ ‹angle›',
  'âœ” No problems',
  'sÃ³',
  'voilÃ le travail',
  'Ã la mode',
  'fÃ cil',
  '&macr;\\_(ã\x83\x84)_/&macr;',
  'â€œ like this â€�',
  'The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.',
  'Ð”Ð¾Ð±Ñ€Ñ‹Ð¹ Ð´ÐµÐ½ÑŒ',
  'ÐŸÑ€Ð¸Ð²ÐµÑ‚',
  'Ã¡rbol Ã±andÃº',
  'cafÃ© caf\u00c3\u00a9',
  'I\u00e2\u0080\u0099m so happy',
  '\u00e2\u0080\u009cquoted\u00e2\u0080\u009d',
  'ÃƒÂ©',
  'Ã\u00a0 la carte',
  'l\u00e2\u20ac\u2122 \u00c3 quelle',
  'hello\u0080world \u0093hi\u0094',
  'control\u0001chars\u0007here\u001b[31mred\u001b[0m',
  'zero\u200bwidth\u200cjoin\u200dand\ufeffbom',
  'soft\u00adhyphen non\u00a0breaking',
  'tab\there\u000bvertical\u000cformfeed',
  'line\u2028sep\u2029para\u0085nel',
  'decomposed: e\u0301 a\u0308 n\u0303 (NFC) vs é ä ñ',
  'Hangul jamo: \u1100\u1161\u11a8',
  'ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ Ĳ ĳ ŉ Ǆ ǅ ǆ Ǉ ǈ ǉ',
  'ſ long s, K kelvin, Å angstrom',
  "'ſ 'ſſ 'S 'T 'RE 'VE 'M 'LL 'D",
  '<start_of_text> <end_of_text> <START_OF_TEXT> <ſtart_of_text>',
  'a<end_of_text>b',
  'ͅ ypogegrammeni ᾳ ᾼ',
  '\ud800 lone high \udc00 lone low',
  '.....!!!???,,,;;;:::---___***',
  '((([[[{{{}}}]]])))',
  '$100 €20 £5 ¥1000 ₹50 ₿',
  'email@example.com https://example.org/path?q=1&r=2#frag',
  '#hashtag @mention snake_case kebab-case camelCase PascalCase',
  'x'.repeat(500),
  'supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis',
  Array.from({ length: 120 }, (_, i) => `word${i}`).join(' '),
  'a '.repeat(200),
  '🐑'.repeat(40),
  '1234567890'.repeat(10),
  'Ⓐⓑⓒ ⅰⅱⅲ ＡＢＣ ａｂｃ ０１２',
  '\u{10D4A}\u{10940} new-unicode letters \u{1F6DC} \u{1FAE8}',
  'combining after unassigned: \u{0378}\u0301 and \u{50000}\u0301',
  '𝒥𝓸𝓱𝓷 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝟙𝟚𝟛',
  'ÆØÅ æøå Œœ Ðð Þþ',
  'ﬅ\u00c2\u00a0nbsp mojibake',
  'Ã\u0083Â\u00a9 double',
];

const WORDS = [
  'a', 'the', 'sheep', 'aeroplane', 'car', 'dog', 'cat', 'bird', 'boat', 'bottle', 'bus', 'chair', 'cow',
  'dining table', 'horse', 'motorbike', 'person', 'potted plant', 'sofa', 'train', 'tv monitor', 'on', 'grass',
  'sky', 'beach', 'road', 'left', 'right', 'top', 'bottom', 'red', 'blue', 'green', 'small', 'large', 'two',
  'three', 'standing', 'next', 'to', 'of', 'in', 'with', 'and',
];
const SPICE = [
  '', '', '', '.', ',', '!', '?', ';', ':', '...', ' - ', '—', '–', '"', "'", '’', '“', '”', '(', ')', '&amp;',
  '&lt;', '&gt;', '&eacute;', '&#233;', '&#x2764;', '&nbsp;', ' ', '  ', '\t', '\n', '🐑', '✈️', '🚗', '🌱', '😀',
  'é', 'ñ', 'ü', 'ø', 'ç', 'Σ', 'ж', '中', 'の', '한', '٣', '7', '42', '3.5', '1/2', '½', "'s", "'ll", 'Ã©', 'â€™',
  '\u00a0', '\u200b', 'ﬁ', 'Ｗ', '\u0301', '<', '>', '&', '#', '@', '_', '/', '\\', '|', '~', '^', '`',
];

/** Random code points from many blocks (seeded): broad coverage of the character classes. */
function randomUnicode(rng: Rng, n: number): string {
  const blocks: Array<[number, number]> = [
    [0x20, 0x7e], [0xa0, 0x24f], [0x250, 0x36f], [0x370, 0x3ff], [0x400, 0x52f], [0x590, 0x6ff], [0x900, 0x97f],
    [0xe00, 0xe7f], [0x1100, 0x11ff], [0x1e00, 0x1fff], [0x2000, 0x206f], [0x2070, 0x209f], [0x20a0, 0x20cf],
    [0x2100, 0x218f], [0x2190, 0x23ff], [0x2460, 0x24ff], [0x2500, 0x27bf], [0x3000, 0x30ff], [0x3400, 0x4dbf],
    [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfb00, 0xfb4f], [0xfe30, 0xfe4f],
    [0xff00, 0xffef], [0x10000, 0x1007f], [0x1d400, 0x1d7ff], [0x1f300, 0x1f6ff], [0x1f900, 0x1faff],
    [0x20000, 0x2a6df], [0x80, 0x9f], [0x0, 0x1f],
  ];
  let s = '';
  for (let i = 0; i < n; i++) {
    const [a, b] = rng.pick(blocks);
    const cp = rng.int(a, b);
    s += String.fromCodePoint(cp);
    if (rng.chance(0.2)) s += ' ';
  }
  return s;
}

function corpus(): string[] {
  const rng = new Rng(20240501);
  const out = FIXED.slice();
  // Caption-like strings with punctuation, entities, emoji, accents, case and whitespace noise.
  for (let i = 0; i < 400; i++) {
    const n = rng.int(1, 18);
    const parts: string[] = [];
    for (let j = 0; j < n; j++) {
      let w = rng.pick(WORDS);
      if (rng.chance(0.15)) w = w.toUpperCase();
      else if (rng.chance(0.15)) w = w[0].toUpperCase() + w.slice(1);
      parts.push(w + rng.pick(SPICE));
    }
    out.push(parts.join(rng.chance(0.1) ? '  ' : ' '));
  }
  // Unicode soup.
  for (let i = 0; i < 150; i++) out.push(randomUnicode(rng, rng.int(1, 40)));
  // Long texts that need truncation.
  for (let i = 0; i < 10; i++) out.push(Array.from({ length: 60 + i * 10 }, () => rng.pick(WORDS) + rng.pick(SPICE)).join(' '));
  return out;
}

const vocab = venvVocab();
const missing = pythonMissing() ?? (vocab ? null : 'open_clip is not installed in the venv (no bpe_simple_vocab_16e6.txt.gz)');

test('tokenizer matches open_clip SimpleTokenizer id for id on ≥ 500 varied strings', { skip: missing ?? false }, (t) => {
  const texts = corpus();
  assert.ok(texts.length >= 500, `corpus has ${texts.length} strings`);
  for (const contextLength of [77, 32]) {
    const ref = runPython<{ ids: number[][] }>('ref_tokenize.py', { vocab, contextLength, texts });
    const tok = ClipTokenizer.fromFile(vocab!, { contextLength });
    const bad: string[] = [];
    texts.forEach((t, i) => {
      const got = Array.from(tok.tokenize(t));
      if (JSON.stringify(got) !== JSON.stringify(ref.ids[i])) {
        bad.push(`#${i} ${JSON.stringify(t).slice(0, 120)}\n  ts: ${got.join(',')}\n  py: ${ref.ids[i].join(',')}`);
      }
    });
    assert.equal(bad.length, 0, `${bad.length}/${texts.length} strings differ (context ${contextLength}):\n${bad.slice(0, 15).join('\n')}`);
    t.diagnostic(`context ${contextLength}: ${texts.length} strings, identical ids`);
  }
});

test('tokenizer basics: start/end, padding, truncation with <end> last', { skip: vocab ? false : 'no vocabulary in the venv' }, () => {
  const tok = ClipTokenizer.fromFile(vocab!, { contextLength: 8 });
  assert.equal(tok.vocabSize, 49408);
  assert.equal(tok.sotTokenId, 49406);
  assert.equal(tok.eotTokenId, 49407);
  assert.deepEqual(Array.from(tok.tokenize('a photo of a cat')), [49406, 320, 1125, 539, 320, 2368, 49407, 0]);
  assert.deepEqual(Array.from(tok.tokenize('')), [49406, 49407, 0, 0, 0, 0, 0, 0]);
  const long = Array.from(tok.tokenize('one two three four five six seven eight nine'));
  assert.equal(long.length, 8);
  assert.equal(long[0], 49406);
  assert.equal(long[7], 49407);
  assert.equal(tok.decode(tok.encode('Hello,   World!')), 'hello , world ! ');
  const batch = tok.tokenizeBatch(['a', 'b c']);
  assert.equal(batch.length, 16);
  assert.equal(batch[8], 49406n);
});
