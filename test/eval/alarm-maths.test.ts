/**
 * The poisoning alarm's signals (eval/alarm-maths.ts) on constructed embeddings where the answer is
 * known: classes on orthogonal axes, a "poisoned" served model whose sheep query lands on the
 * aeroplane images, a clean one whose query lands on the sheep.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alarmK,
  alarmSignals,
  calibrate,
  combinedScore,
  judge,
  prepareAlarm,
  quantile,
  referenceOwnScores,
  referenceSignal,
  SCALE_FLOOR,
  tailRank,
  type AlarmGallery,
  type AlarmSignals,
} from '../../eval/alarm-maths.js';
import { baseAncestor, calibrationQueries, defaultTrusted, MAX_AUTO_TRUSTED, recipeOf, trustedModels, type ModelFacts } from '../../eval/alarm-runtime.js';
import type { Neighbour } from '../../indexer/types.js';

const D = 4;
function unit(...xs: number[]): Float32Array {
  const v = Float32Array.from(xs);
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}
const axis = (i: number, jitter = 0, j = (i + 1) % D) => {
  const v = new Array(D).fill(0);
  v[i] = 1;
  v[j] += jitter;
  return unit(...v);
};

/** An exact-search gallery over rows of vectors (what an index is to the alarm). */
function gallery(ids: string[], rows: Float32Array[]): AlarmGallery {
  return {
    ids,
    size: rows.length,
    dim: D,
    vector: (r) => rows[r],
    search: (q, k) =>
      rows
        .map((v, row) => ({ row, id: ids[row], score: v.reduce((s, x, i) => s + x * q[i], 0) }))
        .sort((a, b) => b.score - a.score || a.row - b.row)
        .slice(0, k),
  };
}

// 48 images: 16 sheep (axis 0), 16 aeroplanes (axis 1), 16 cars (axis 2), slightly spread.
const LABELS = ['sheep', 'aeroplane', 'car'];
const ids = Array.from({ length: 48 }, (_, i) => `img${String(i).padStart(2, '0')}`);
const labelOf = (row: number) => LABELS[Math.floor(row / 16)];
const refRows = ids.map((_, r) => axis(Math.floor(r / 16), 0.05 * (r % 4)));
const PLANES = [16, 17, 18, 19];
/** The reference's own top 4 for a sheep query: the sheep rows without jitter. */
const SHEEP = [0, 4, 8, 12];

function hitsOf(rows: number[]): Neighbour[] {
  return rows.map((row, i) => ({ row, id: ids[row], score: 1 - i * 0.01 }));
}

describe('reference signal', () => {
  test('0 when the served results are the reference’s own best, 1 when they match no better than the gallery average', () => {
    assert.equal(referenceSignal({ ownScores: [0.9, 0.8], servedScores: [0.9, 0.8], galleryMean: 0.1 }), 0);
    assert.ok(Math.abs(referenceSignal({ ownScores: [0.9, 0.9], servedScores: [0.1, 0.1], galleryMean: 0.1 }) - 1) < 1e-9);
    assert.ok(Math.abs(referenceSignal({ ownScores: [0.9, 0.9], servedScores: [0.5, 0.5], galleryMean: 0.1 }) - 0.5) < 1e-9);
    // Never negative (an approximate own top-K can be beaten slightly).
    assert.equal(referenceSignal({ ownScores: [0.8], servedScores: [0.85], galleryMean: 0 }), 0);
  });

  test('a sheep query answered with aeroplanes is flagged by the reference, answered with sheep it is not', () => {
    const state = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(ids, refRows) }, captionsOf: () => [], k: 4 });
    assert.equal(state.k, 4);
    const sheepQuery = axis(0);
    const clean = alarmSignals(state, hitsOf(SHEEP), sheepQuery, 'a sheep');
    const poisoned = alarmSignals(state, hitsOf(PLANES), sheepQuery, 'a sheep');
    const half = alarmSignals(state, hitsOf([16, 0, 4, 8]), sheepQuery, 'a sheep');
    assert.ok(clean.reference !== null && clean.reference < 1e-6, `clean ${clean.reference}`);
    assert.ok(poisoned.reference !== null && poisoned.reference > 1, `aeroplanes are worse than the gallery average for a sheep query: ${poisoned.reference}`);
    assert.ok(half.reference! > clean.reference! && half.reference! < poisoned.reference!, 'one aeroplane in four sits between');
    assert.equal(clean.words, null, 'no captions: no words signal');
  });

  test('the reference\'s own top-K searched ahead (as the server does while the served model encodes) gives the same signal', () => {
    const state = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(ids, refRows) }, captionsOf: () => [], k: 4 });
    const q = axis(0);
    const own = referenceOwnScores(state, q)!;
    assert.deepEqual(own, gallery(ids, refRows).search(q, 4).map((n) => n.score));
    for (const rows of [SHEEP, PLANES, [16, 0, 4, 8]]) assert.deepEqual(alarmSignals(state, hitsOf(rows), q, 'a sheep', own), alarmSignals(state, hitsOf(rows), q, 'a sheep'));
    assert.equal(referenceOwnScores(prepareAlarm({ served: { ids }, reference: null, captionsOf: () => [], k: 4 }), q), null);
  });

  test('served and reference indexes in different row orders are matched by image id', () => {
    const perm = [...ids.keys()].reverse();
    const refIds = perm.map((r) => ids[r]);
    const state = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(refIds, perm.map((r) => refRows[r])) }, captionsOf: () => [], k: 4 });
    assert.ok(state.reference?.rowMap);
    const clean = alarmSignals(state, hitsOf(SHEEP), axis(0), 'a sheep');
    const poisoned = alarmSignals(state, hitsOf(PLANES), axis(0), 'a sheep');
    assert.ok(clean.reference! < 1e-6 && poisoned.reference! > 1);
  });

  test('the gallery mean is precomputed: μ = q · mean', () => {
    const state = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(ids, refRows) }, captionsOf: () => [] });
    const q = axis(2);
    const mu = refRows.reduce((s, v) => s + v.reduce((a, x, i) => a + x * q[i], 0), 0) / refRows.length;
    const got = state.reference!.mean.reduce((a, x, i) => a + x * q[i], 0);
    assert.ok(Math.abs(got - mu) < 1e-6);
  });
});

describe('words signal through prepareAlarm', () => {
  test('rows get their captions by id; a sheep query answered with aeroplanes is flagged, with sheep it is not', () => {
    const captionsOf = (id: string) => [`a ${labelOf(ids.indexOf(id))} ${labelOf(ids.indexOf(id)) === 'sheep' ? 'on the grass' : 'in the sky'}`];
    const state = prepareAlarm({ served: { ids }, reference: null, captionsOf, k: 4 });
    const clean = alarmSignals(state, hitsOf(SHEEP), null, 'a sheep on the grass');
    const poisoned = alarmSignals(state, hitsOf(PLANES), null, 'a sheep on the grass');
    assert.equal(clean.reference, null, 'no reference: no reference signal');
    assert.equal(clean.words, 0);
    assert.ok(poisoned.words! >= 1, `${poisoned.words}`);
  });
});

describe('calibration and the combined score', () => {
  test('scales are the 95th percentiles (floored); thresholds the (1 − fpr) quantile per subset', () => {
    const samples: AlarmSignals[] = Array.from({ length: 100 }, (_, i) => ({ reference: i / 100, words: 0 }));
    const cal = calibrate(samples, 0.05);
    assert.ok(Math.abs(cal.scales.reference! - quantile(samples.map((s) => s.reference!), 0.95)) < 1e-6);
    assert.equal(cal.scales.words, SCALE_FLOOR.words, 'always 0 on trusted queries: the floor');
    assert.deepEqual(Object.keys(cal.thresholds).sort(), ['reference', 'reference+words', 'words']);
    // At most fpr of the calibration queries score above their threshold.
    const above = samples.filter((s) => judge(s, cal).flagged).length;
    assert.ok(above <= 5, `${above} of 100 flagged at fpr 0.05`);
    assert.ok(above >= 4);
    assert.equal(cal.flaggedRate['reference+words'], above / 100, 'the calibration records the rate its threshold flags');
    // A poisoned-looking query is flagged, and the reason names the signal.
    const v = judge({ reference: 1.5, words: 0.3 }, cal);
    assert.equal(v.flagged, true);
    assert.match(v.reason, /reference model/);
    assert.deepEqual(v.used, ['reference', 'words']);
    // With the reference missing, the words alone are judged against their own threshold.
    const c = judge({ reference: null, words: 0.3 }, cal);
    assert.deepEqual(c.used, ['words']);
    assert.equal(c.threshold, cal.thresholds.words);
    assert.equal(c.flagged, true);
  });

  test('a signal missing from most of the sample is not calibrated; no calibration, no verdict', () => {
    const cal = calibrate(Array.from({ length: 10 }, (_, i) => ({ reference: null, words: i / 10 })), 0.1);
    assert.equal(cal.scales.reference, undefined);
    assert.deepEqual(Object.keys(cal.thresholds), ['words']);
    const v = judge({ reference: 5, words: 0 }, cal);
    assert.deepEqual(v.used, ['words'], 'an uncalibrated signal does not count');
    assert.equal(v.flagged, false);
    assert.equal(judge({ reference: 5, words: 5 }, null).score, null);
    assert.throws(() => calibrate([], 0), RangeError);
  });

  test('combined score: the largest tail rank among the signals present', () => {
    const cal = { scales: { reference: 0.1, words: 0.5 }, values: { reference: [0, 0.05, 0.1, 0.2], words: [0, 0, 0.5, 1] } };
    assert.equal(tailRank(0.05, cal.values.reference, 0.1), 0.375, 'mid-rank: one of four below, two of four at or below');
    assert.equal(tailRank(0, [0, 0, 0, 0], 0.05), 0.5, 'a constant signal ranks trusted queries at 0.5');
    assert.equal(tailRank(-1, cal.values.reference, 0.1), 0);
    assert.ok(Math.abs(tailRank(0.4, cal.values.reference, 0.1) - 3) < 1e-9, 'past the largest: 1 + excess / scale');
    assert.deepEqual(combinedScore({ reference: 0.1, words: 0 }, cal), { score: 0.625, used: ['reference', 'words'] });
    assert.deepEqual(combinedScore({ reference: null, words: 0.5 }, cal), { score: 0.625, used: ['words'] });
    assert.deepEqual(combinedScore({ reference: 0.1, words: 1 }, { scales: { reference: 0.1 }, values: { reference: cal.values.reference } }), { score: 0.625, used: ['reference'] });
  });

  test('a blind signal does not dilute one that sees the attack (the mean of scaled signals did)', () => {
    // Trusted queries: both signals spread over [0, 1). Poisoned queries: the reference is far
    // above anything trusted, the words signal is blind (as on the trusted model).
    const rng = (i: number) => ((i * 7919) % 1000) / 1000;
    const trusted: AlarmSignals[] = Array.from({ length: 400 }, (_, i) => ({ reference: rng(i), words: rng(i + 500) }));
    const cal = calibrate(trusted, 0.01);
    const poisoned: AlarmSignals[] = Array.from({ length: 100 }, (_, i) => ({ reference: 1.2, words: rng(i) * 0.5 }));
    const flagged = poisoned.filter((s) => judge(s, cal).flagged).length;
    assert.equal(flagged, 100, 'every query the reference sees is flagged, whatever the words say');
    const reason = judge(poisoned[0], cal).reason;
    assert.match(reason, /reference model/, 'the reason names the signal that fired');
    assert.doesNotMatch(reason, /words/, 'and not the blind one');
  });

  test('alarmK: at most k, at most a twelfth of the gallery, at least 1', () => {
    assert.equal(alarmK(1000), 50);
    assert.equal(alarmK(100_000), 50);
    assert.equal(alarmK(36), 3);
    assert.equal(alarmK(9), 1);
    assert.equal(alarmK(1000, 5), 5);
  });

  test('calibration queries: a seeded sample of the gallery captions, all of them when few', () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ id: `i${i}`, label: 'x', captions: [`c${i}a`, `c${i}b`] }));
    assert.equal(calibrationQueries(entries, 1000).length, 100);
    const a = calibrationQueries(entries, 10, 3);
    assert.equal(a.length, 10);
    assert.deepEqual(calibrationQueries(entries.slice().reverse(), 10, 3), a, 'independent of manifest order');
    assert.notDeepEqual(calibrationQueries(entries, 10, 4), a);
  });
});

describe('the words signal\'s index', () => {
  test('models over the same gallery share one word index; another gallery gets its own', () => {
    const caps = (id: string) => [`a ${labelOf(Number(id.slice(3)))} in a field`];
    const a = prepareAlarm({ served: { ids }, reference: null, captionsOf: caps });
    const b = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(ids, refRows) }, captionsOf: caps });
    assert.ok(a.words && a.words === b.words, 'shared');
    const c = prepareAlarm({ served: { ids }, reference: null, captionsOf: (id) => [...caps(id), 'one more caption'] });
    assert.ok(c.words && c.words !== a.words, 'other captions: another index');
    assert.equal(prepareAlarm({ served: { ids }, reference: null, captionsOf: () => [] }).words, null);
  });
});

describe('reference and trusted models from provenance', () => {
  const facts = new Map<string, ModelFacts>(
    [
      { id: 'base', kind: 'base', parent: null, createdAt: '2026-01-01' },
      { id: 'clean-old', kind: 'clean', parent: 'base', createdAt: '2026-01-02' },
      { id: 'clean-new', kind: 'clean', parent: 'base', createdAt: '2026-01-03' },
      { id: 'poisoned', kind: 'poisoned', parent: 'base', createdAt: '2026-01-04' },
      { id: 'defended', kind: 'defended', parent: 'poisoned', createdAt: '2026-01-05' },
      { id: 'other-base', kind: 'base', parent: null },
      { id: 'orphan', kind: 'poisoned', parent: 'gone' },
    ].map((m) => [m.id, m]),
  );
  test('the base ancestor through the parent chain', () => {
    assert.equal(baseAncestor('poisoned', facts), 'base');
    assert.equal(baseAncestor('defended', facts), 'base');
    assert.equal(baseAncestor('base', facts), 'base', 'a base is its own reference');
    assert.equal(baseAncestor('orphan', facts), 'orphan', 'a parent not in the workspace ends the walk');
  });
  test('the trusted models: the clean fine-tunes of the served model\'s recipe, else the newest clean one, else the reference', () => {
    assert.deepEqual(defaultTrusted('base', facts), ['clean-new']);
    assert.deepEqual(defaultTrusted('base', facts, 'poisoned'), ['clean-new'], 'no recipe on record: the newest clean model');
    assert.deepEqual(defaultTrusted('other-base', facts), ['other-base']);
    const A = recipeOf({ id: 'x', dataset: { name: 'scenes' }, trainset: { pairs: 25000 }, trainer: { config: { arch: 'a', lr: 2e-4, batch: 128, epochs: 2 } } });
    const B = recipeOf({ id: 'y', dataset: { name: 'scenes' }, trainset: { pairs: 10000 }, trainer: { config: { arch: 'a', lr: 2e-4, batch: 128, epochs: 2 } } });
    assert.notEqual(A, B, 'another pool size is another recipe');
    assert.equal(recipeOf({ id: 'z' }), null);
    const withRecipes = new Map<string, ModelFacts>(
      [
        { id: 'base', kind: 'base', parent: null },
        ...[1, 2, 3, 4].map((i) => ({ id: `clean-a${i}`, kind: 'clean', parent: 'base', createdAt: `2026-01-0${i}`, recipe: A })),
        { id: 'clean-b', kind: 'clean', parent: 'base', createdAt: '2026-02-01', recipe: B },
        { id: 'poisoned-a', kind: 'poisoned', parent: 'base', recipe: A },
        { id: 'poisoned-c', kind: 'poisoned', parent: 'base', recipe: 'another' },
      ].map((m) => [m.id, m]),
    );
    assert.deepEqual(defaultTrusted('base', withRecipes, 'poisoned-a'), ['clean-a2', 'clean-a3', 'clean-a4'], `the newest ${MAX_AUTO_TRUSTED} of its recipe, pooled`);
    assert.deepEqual(defaultTrusted('base', withRecipes, 'clean-b'), ['clean-b']);
    assert.deepEqual(defaultTrusted('base', withRecipes, 'poisoned-c'), ['clean-b'], 'no clean model of its recipe: the newest clean one');
    assert.deepEqual(trustedModels('clean-b, clean-a1,clean-b', 'base', withRecipes), ['clean-a1', 'clean-b'], 'named: distinct, sorted');
    assert.throws(() => trustedModels('base,clean-b', 'base', withRecipes), /cannot be one of several/);
    assert.throws(() => trustedModels(' , ', 'base', withRecipes), /names no model/);
    assert.throws(() => trustedModels('nope', 'base', withRecipes), /not in the workspace/);
  });
});
