import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attackRanks,
  cosineDistances,
  encoderDrift,
  hitAtK,
  minRank,
  normalize,
  rankGallery,
  retrievalRanks,
  retrievalRecall,
  rankOf,
  summarizeRanks,
  HIT_KS,
} from '../../eval/metrics.js';
import { averageRanks, median, pairedTTest, spearman, studentTwoSidedP } from '../../eval/statistics.js';
import { Rng } from '../../core/random.js';
import { simdOptions } from '../../indexer/simd.js';

const close = (a: number | null, b: number, eps = 1e-9) => assert.ok(a !== null && Math.abs(a - b) < eps, `${a} ≉ ${b}`);

// A gallery whose ids are NOT in row order, with two score ties:
//   row 0 'd' 0.9 · row 1 'b' 0.5 · row 2 'a' 0.9 · row 3 'c' 0.5 · row 4 'e' 0.1
// Sorted by score, ties by id: a(2) d(0) b(1) c(3) e(4).
const ids = ['d', 'b', 'a', 'c', 'e'];
const scores = [0.9, 0.5, 0.9, 0.5, 0.1];

test('rankGallery sorts by score descending, ties by id ascending', () => {
  assert.deepEqual(rankGallery(scores, ids), [2, 0, 1, 3, 4]);
  assert.deepEqual(rankGallery([0.3, 0.3, 0.3], ['q', 'p', 'r']), [1, 0, 2]);
});

test('MinRank is the 0-based rank of the best-ranked target, ties broken by id', () => {
  assert.equal(minRank(scores, ids, [2]), 0); // 'a' wins its tie with 'd'
  assert.equal(minRank(scores, ids, [0]), 1); // 'd' loses it
  assert.equal(minRank(scores, ids, [0, 2]), 0);
  assert.equal(minRank(scores, ids, [3]), 3); // 'c' after 'b' at 0.5
  assert.equal(minRank(scores, ids, [1, 3]), 2); // best of a tied pair is the smaller id
  assert.equal(minRank(scores, ids, [3, 4]), 3);
  assert.equal(minRank(scores, ids, [4]), 4);
  assert.equal(minRank([0.3, 0.3, 0.3], ['q', 'p', 'r'], [0]), 1);
  assert.equal(minRank([0.3, 0.3, 0.3], ['q', 'p', 'r'], [2, 0]), 1);
  // Agrees with the full sort on every single target.
  const order = rankGallery(scores, ids);
  for (let row = 0; row < ids.length; row++) assert.equal(minRank(scores, ids, [row]), order.indexOf(row));
  assert.throws(() => minRank(scores, ids, []), /no target/);
});

test('Hit@K, mean/median/min/max MinRank and the query count', () => {
  const s = summarizeRanks([0, 3, 7, 12, 60]);
  assert.equal(s.queries, 5);
  assert.deepEqual(s.hit, { '1': 0.2, '5': 0.4, '10': 0.6, '20': 0.8, '30': 0.8, '50': 0.8 });
  assert.deepEqual(s.minRank, { mean: 16.4, median: 7, min: 0, max: 60 });
  assert.deepEqual(Object.keys(s.hit), HIT_KS.map(String));
  // Hit@K is strict: MinRank K is not a hit at K.
  assert.equal(hitAtK([1, 5, 10], 5), 1 / 3);
  assert.equal(median([10, 1, 3, 2]), 2.5);
  const empty = summarizeRanks([]);
  assert.equal(empty.queries, 0);
  assert.equal(empty.hit['10'], null);
  assert.deepEqual(empty.minRank, { mean: null, median: null, min: null, max: null });
});

test('attackRanks scores by cosine and breaks ties by gallery id', () => {
  const s = Math.SQRT1_2;
  // rows: 'img3' (1,0) · 'img1' (0,1) · 'img2' (1,0) · 'img0' (s,s)
  const gallery = [new Float32Array([1, 0]), new Float32Array([0, 1]), new Float32Array([1, 0]), new Float32Array([s, s])];
  const gids = ['img3', 'img1', 'img2', 'img0'];
  const q1 = new Float32Array([1, 0]); // order: img2 img3 img0 img1
  const q2 = new Float32Array([0, 1]); // order: img1 img0 img2 img3
  assert.deepEqual(attackRanks([q1, q2], gallery, gids, [0]), [1, 3]);
  assert.deepEqual(attackRanks([q1, q2], gallery, gids, [0, 2]), [0, 2]);
  assert.deepEqual(attackRanks([q1, q2], gallery, gids, [1, 3]), [2, 0]);
  assert.deepEqual(attackRanks([q1, q2], gallery, gids, [1]), [3, 0]);
});

test('attackRanks (float32 SIMD screen, double-precision rescoring near the best target) equals ranking double-precision scores', () => {
  // Near-ties closer than float32 can tell apart, exact duplicates, and ids out of row order.
  const rng = new Rng(5);
  const dim = 16;
  const unit = () => normalize(Float32Array.from({ length: dim }, () => rng.next() - 0.5));
  const gallery: Float32Array[] = Array.from({ length: 60 }, unit);
  for (let i = 40; i < 60; i++) {
    const v = Float32Array.from(gallery[i - 40]);
    v[i % dim] += (i % 3) * 1e-7; // 0, 1e-7 or 2e-7 off row i − 40
    gallery[i] = v;
  }
  gallery[59] = gallery[3];
  const ids = gallery.map((_, i) => `g${(i * 37) % 60}`);
  const queries = [...gallery.slice(0, 8), ...Array.from({ length: 8 }, unit)];
  for (const targets of [[0], [41, 2], [3, 59, 17], Array.from({ length: 30 }, (_, i) => i * 2)]) {
    const want = queries.map((q) => minRank(gallery.map((v) => v.reduce((s, x, d) => s + x * q[d], 0)), ids, targets));
    try {
      for (const simd of [true, false]) {
        simdOptions.enabled = simd;
        assert.deepEqual(attackRanks(queries, gallery, ids, targets), want, `targets ${targets.slice(0, 4)}, simd ${simd}`);
      }
    } finally {
      simdOptions.enabled = true;
    }
  }
});

test('utility Recall@K: IR (own image in top K) and TR (any own caption in top K), ties included', () => {
  const s = Math.SQRT1_2;
  const images = [new Float32Array([1, 0]), new Float32Array([0, 1]), new Float32Array([1, 0])]; // a b c; a and c tie
  const imageIds = ['a', 'b', 'c'];
  const texts = [new Float32Array([1, 0]), new Float32Array([1, 0]), new Float32Array([0, 1]), new Float32Array([s, s])];
  const textImage = [0, 2, 1, 1];
  // IR ranks: t0→a 0; t1→c 1 (a wins the tie); t2→b 0; t3→b 1 (all three tie: a b c).
  // TR ranks: a: t0 t1 t3 t2 → 0; b: t2 t3 t0 t1 → 0; c: t0 t1 t3 t2 → its t1 at 1.
  const r = retrievalRecall({ images, imageIds, texts, textImage, ks: [1, 2, 5] });
  assert.deepEqual(r.ir, { '1': 0.5, '2': 1, '5': 1 });
  assert.deepEqual(r.tr, { '1': 2 / 3, '2': 1, '5': 1 });
  assert.equal(r.images, 3);
  assert.equal(r.captions, 4);
  // Default K = 1, 5, 10.
  assert.deepEqual(Object.keys(retrievalRecall({ images, imageIds, texts, textImage }).ir), ['1', '5', '10']);
  // Counting only some captions and images: ranks are still over all of them.
  const kept = retrievalRecall({ images, imageIds, texts, textImage, ks: [1, 2], keepText: [false, true, true, false], keepImage: [false, true, true] });
  assert.deepEqual(kept.ir, { '1': 0.5, '2': 1 }); // t1 at 1, t2 at 0
  assert.deepEqual(kept.tr, { '1': 0.5, '2': 1 }); // b at 0, c at 1
  assert.equal(kept.images, 2);
  assert.equal(kept.captions, 2);
});

test('retrievalRanks (blocks of captions against each image, no score matrix; SIMD and JavaScript) equals ranking each row and column of the full matrix', () => {
  // Coarse 3-value coordinates make many exact ties; 21 captions are not a whole number of SIMD groups.
  const rng = new Rng(11);
  const vec = () => Float32Array.from({ length: 4 }, () => Math.floor(rng.next() * 3) - 1);
  const images = Array.from({ length: 13 }, vec);
  images[7] = images[2]; // a duplicate image
  const imageIds = images.map((_, i) => `img${String((i * 5) % 13).padStart(2, '0')}`); // ids not in row order
  const textImage = Array.from({ length: 21 }, (_, t) => (t < 12 ? t : Math.floor(rng.next() * 12))); // image 12 has no caption
  const texts = textImage.map(() => vec());
  texts[20] = texts[3];
  const S = texts.map((t) => images.map((im) => t.reduce((acc, x, d) => acc + x * im[d], 0)));
  const wantIr = texts.map((_, t) => rankOf(S[t], imageIds, textImage[t]));
  const keys = texts.map((_, t) => t);
  const wantTr = images.map((_, i) => {
    const own = textImage.flatMap((im, t) => (im === i ? [t] : []));
    return own.length ? minRank(S.map((row) => row[i]), keys, own) : null;
  });
  try {
    for (const simd of [true, false]) {
      for (const blockRows of [undefined, 4, 8]) {
        simdOptions.enabled = simd;
        const got = retrievalRanks({ images, imageIds, texts, textImage, blockRows });
        assert.deepEqual(got.ir, wantIr, `IR, simd ${simd}, blocks of ${blockRows}`);
        assert.deepEqual(got.tr, wantTr, `TR, simd ${simd}, blocks of ${blockRows}`);
        assert.equal(got.tr[12], null);
      }
    }
  } finally {
    simdOptions.enabled = true;
  }
});

test('encoder drift is the mean cosine distance of matching rows', () => {
  const a = [new Float32Array([1, 0]), new Float32Array([0, 1])];
  const b = [new Float32Array([2, 0]), new Float32Array([1, 1])];
  const d = cosineDistances(a, b);
  close(d[0], 0);
  close(d[1], 1 - Math.SQRT1_2, 1e-7);
  const drift = encoderDrift(a, b);
  close(drift.mean, (1 - Math.SQRT1_2) / 2, 1e-7);
  assert.equal(drift.n, 2);
  assert.deepEqual(normalize([3, 4]), new Float32Array([0.6, 0.8]));
});

test('paired t-test matches scipy.stats.ttest_rel', () => {
  // scipy: ttest_rel(x, y) → statistic 3.101319367330914, pvalue 0.026813067575787372, df 5
  const r = pairedTTest([0.31, 0.25, 0.4, 0.22, 0.35, 0.29], [0.2, 0.21, 0.3, 0.25, 0.22, 0.18]);
  close(r.t, 3.101319367330914, 1e-9);
  close(r.p, 0.026813067575787372, 1e-9);
  assert.equal(r.df, 5);
  assert.equal(r.n, 6);
  // scipy: 2 * t.sf(|t|, df)
  close(studentTwoSidedP(2, 5), 0.10193947882985835, 1e-9);
  close(studentTwoSidedP(-0.5, 30), 0.6207230048851272, 1e-9);
  close(studentTwoSidedP(10, 3), 0.0021283990584141503, 1e-9);
  close(studentTwoSidedP(0, 7), 1, 1e-12);
  const same = pairedTTest([1, 2, 3], [1, 2, 3]);
  assert.ok(Number.isNaN(same.t));
  assert.equal(same.p, 1);
  assert.throws(() => pairedTTest([1], [2]), /at least two/);
});

test('spearman: average ranks for ties, rho as scipy.stats.spearmanr, a Fisher-z interval; null when undefined', () => {
  assert.deepEqual(averageRanks([3, 1, 4, 1, 5, 9, 2, 6]), [4, 1.5, 5, 1.5, 6, 8, 3, 7]);
  // numpy: corrcoef of the average ranks; tanh(atanh(rho) ± 1.959964·sqrt(1.06 / 5))
  const c = spearman([3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8])!;
  close(c.rho, 0.19885368120992464, 1e-12);
  close(c.lo, -0.6049364744384593, 1e-6);
  close(c.hi, 0.8019219367153819, 1e-6);
  assert.equal(c.n, 8);
  assert.equal(spearman([1, 2, 3, 4, 5], [50, 40, 30, 20, 10])!.rho, -1);
  assert.equal(spearman([1, 2, 3, 4], [1, 3, 2, 4])!.lo, null, 'no interval under 5 pairs');
  assert.equal(spearman([1, 2, 3], [7, 7, 7]), null, 'a constant side has no correlation');
  assert.equal(spearman([1, 2], [2, 1]), null);
  assert.throws(() => spearman([1, 2, 3], [1, 2]), /3 and 2 values/);
});
