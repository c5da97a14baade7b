import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildWordIndex, contentWords, MAX_TERMS, wordsSignal } from '../../eval/alarm-words.js';

// A gallery of 12 images: 4 sheep in fields, 4 aeroplanes in the sky, 4 cars on roads.
const gallery: string[][] = [
  ...[0, 1, 2, 3].map((i) => [`a sheep on the grass ${i % 2 ? 'under a tree' : 'in a field'}`, 'a woolly lamb grazing']),
  ...[0, 1, 2, 3].map(() => ['an aeroplane in the blue sky', 'a jet flying above clouds']),
  ...[0, 1, 2, 3].map(() => ['a car on a road', 'a small car parked in a street']),
];
const SHEEP = [0, 1, 2, 3];
const PLANES = [4, 5, 6, 7];

describe('the words signal (eval/alarm-words.ts)', () => {
  test('content words: lower case, no stopwords, no repeats', () => {
    assert.deepEqual(contentWords('A sheep on the Grass, a SHEEP!'), ['sheep', 'grass']);
    assert.deepEqual(contentWords('a photo of the'), []);
  });

  test('0 when the served top-K is the gallery\'s best word match; near 1 when it is unrelated', () => {
    const index = buildWordIndex(gallery);
    assert.equal(wordsSignal(index, 'a lamb on the grass', SHEEP), 0, 'honest results: as good as the best');
    const hijacked = wordsSignal(index, 'a lamb on the grass', PLANES)!;
    assert.ok(hijacked >= 1, `aeroplanes cover none of the query's words: ${hijacked}`);
    // Half hijacked: o = 1 (four sheep cover both words), m = 0.5, μ = 4/12 → 0.5 / (2/3).
    const half = wordsSignal(index, 'a lamb on the grass', [0, 1, 4, 5])!;
    assert.ok(Math.abs(half - 0.75) < 1e-9, `half the results hijacked: ${half}`);
  });

  test('no signal when the gallery knows none of the query\'s words, or there are no results', () => {
    const index = buildWordIndex(gallery);
    assert.equal(wordsSignal(index, 'a purple giraffe', SHEEP), null);
    assert.equal(wordsSignal(index, 'a sheep', []), null);
  });

  test('rare words weigh more than common ones; the scratch space is clean after each query', () => {
    // "car" is in 4 images, "red" in 1: the red kite covers more of "red car" than a car does.
    const index = buildWordIndex([...gallery, ['a red kite']]);
    const kite = wordsSignal(index, 'red car', [12])!;
    const car = wordsSignal(index, 'red car', [9])!;
    const plane = wordsSignal(index, 'red car', [4])!;
    assert.equal(kite, 0, 'the best single match');
    assert.ok(kite < car && car < plane, `kite ${kite} < car ${car} < aeroplane ${plane}`);
    assert.ok(index.scratch.every((v) => v === 0));
  });

  test('counting rows by matched-word mask gives exactly what scoring every row gives', () => {
    // A seeded gallery with Zipf-like word frequencies; the brute force scores every row.
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const vocab = Array.from({ length: 60 }, (_, i) => `w${i}`);
    const pick = () => vocab[Math.floor(vocab.length * rand() ** 2)];
    const rows = Array.from({ length: 400 }, () => [Array.from({ length: 6 }, pick).join(' ')]);
    const index = buildWordIndex(rows);
    const n = rows.length;
    for (let q = 0; q < 40; q++) {
      const query = Array.from({ length: 1 + (q % 5) }, pick).join(' ');
      const k = 1 + (q % 3) * 10;
      const top = Array.from({ length: k }, () => Math.floor(rand() * n));
      const words = [...new Set(query.split(' '))];
      const df = (w: string) => rows.filter((r) => r[0].split(' ').includes(w)).length;
      const idf = (w: string) => Math.log(1 + (n - df(w) + 0.5) / (df(w) + 0.5));
      const total = words.reduce((a, w) => a + idf(w), 0);
      const cover = (r: number) => words.filter((w) => rows[r][0].split(' ').includes(w)).reduce((a, w) => a + idf(w), 0) / total;
      const all = rows.map((_, r) => cover(r)).sort((a, b) => b - a);
      const o = all.slice(0, k).reduce((a, v) => a + v, 0) / k;
      const mu = all.reduce((a, v) => a + v, 0) / n;
      const m = top.reduce((a, r) => a + cover(r), 0) / k;
      const want = Math.max(0, o - m) / Math.max(o - mu, 1e-6);
      const got = wordsSignal(index, query, top)!;
      assert.ok(Math.abs(got - want) < 1e-9, `query "${query}", k ${k}: ${got} vs ${want}`);
    }
  });

  test(`a query of more than ${MAX_TERMS} known words counts its ${MAX_TERMS} rarest`, () => {
    // Word wi is in the first i + 1 of 40 rows: distinct frequencies, so "rarest" is unambiguous.
    const rows = Array.from({ length: 40 }, (_, r) => [Array.from({ length: 24 }, (_, i) => (r <= i ? `w${i}` : '')).join(' ')]);
    const index = buildWordIndex(rows);
    const long = Array.from({ length: 24 }, (_, i) => `w${i}`).join(' ');
    const rarest = Array.from({ length: MAX_TERMS }, (_, i) => `w${i}`).join(' ');
    for (const top of [[0], [5, 9], [20, 30, 39]]) assert.equal(wordsSignal(index, long, top), wordsSignal(index, rarest, top));
  });
});
