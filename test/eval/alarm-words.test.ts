import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildWordIndex, contentWords, wordsSignal } from '../../eval/alarm-words.js';

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
});
