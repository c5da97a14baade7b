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
  captionSignal,
  combinedScore,
  tailRank,
  judge,
  prepareAlarm,
  prototypeCaptions,
  prototypeScores,
  prototypesFrom,
  quantile,
  referenceSignal,
  SCALE_FLOOR,
  type AlarmGallery,
  type AlarmSignals,
} from '../../eval/alarm-maths.js';
import { baseAncestor, calibrationQueries, defaultTrusted, labelsOfEntry, type ModelFacts } from '../../eval/alarm-runtime.js';
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
    const state = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(ids, refRows) }, labelsOf: (id) => [labelOf(ids.indexOf(id))], prototypes: null, k: 4 });
    assert.equal(state.k, 4);
    const sheepQuery = axis(0);
    const clean = alarmSignals(state, hitsOf(SHEEP), null, sheepQuery);
    const poisoned = alarmSignals(state, hitsOf(PLANES), null, sheepQuery);
    const half = alarmSignals(state, hitsOf([16, 0, 4, 8]), null, sheepQuery);
    assert.ok(clean.reference !== null && clean.reference < 1e-6, `clean ${clean.reference}`);
    assert.ok(poisoned.reference !== null && poisoned.reference > 1, `aeroplanes are worse than the gallery average for a sheep query: ${poisoned.reference}`);
    assert.ok(half.reference! > clean.reference! && half.reference! < poisoned.reference!, 'one aeroplane in four sits between');
    assert.equal(clean.captions, null, 'no prototypes: no captions signal');
  });

  test('served and reference indexes in different row orders are matched by image id', () => {
    const perm = [...ids.keys()].reverse();
    const refIds = perm.map((r) => ids[r]);
    const state = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(refIds, perm.map((r) => refRows[r])) }, labelsOf: () => [], prototypes: null, k: 4 });
    assert.ok(state.reference?.rowMap);
    const clean = alarmSignals(state, hitsOf(SHEEP), null, axis(0));
    const poisoned = alarmSignals(state, hitsOf(PLANES), null, axis(0));
    assert.ok(clean.reference! < 1e-6 && poisoned.reference! > 1);
  });

  test('the gallery mean is precomputed: μ = q · mean', () => {
    const state = prepareAlarm({ served: { ids }, reference: { model: 'ref', gallery: gallery(ids, refRows) }, labelsOf: () => [], prototypes: null });
    const q = axis(2);
    const mu = refRows.reduce((s, v) => s + v.reduce((a, x, i) => a + x * q[i], 0), 0) / refRows.length;
    const got = state.reference!.mean.reduce((a, x, i) => a + x * q[i], 0);
    assert.ok(Math.abs(got - mu) < 1e-6);
  });
});

describe('captions signal', () => {
  const protos = prototypesFrom(
    new Map([
      ['aeroplane', [axis(1, 0.1), axis(1, -0.1)]],
      ['car', [axis(2)]],
      ['sheep', [axis(0, 0.2), axis(0)]],
    ]),
    D,
  );

  test('prototypes are normalised means, one per label', () => {
    assert.deepEqual(protos.labels, ['aeroplane', 'car', 'sheep']);
    for (let r = 0; r < 3; r++) {
      const row = protos.vectors.subarray(r * D, (r + 1) * D);
      assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-6);
    }
    const s = prototypeScores(protos, axis(0));
    assert.equal(protos.labels[s.indexOf(Math.max(...s))], 'sheep');
  });

  test('0 when every result carries the query’s class; the prototype gap when none does', () => {
    const s = prototypeScores(protos, axis(0));
    const sheep = protos.labels.indexOf('sheep');
    const plane = protos.labels.indexOf('aeroplane');
    assert.equal(captionSignal(s, [[sheep], [sheep]]), 0);
    const gap = s[sheep] - s[plane];
    assert.ok(Math.abs(captionSignal(s, [[plane], [plane]]) - gap) < 1e-6);
    assert.ok(Math.abs(captionSignal(s, [[plane], [sheep]]) - gap / 2) < 1e-6);
    // A result showing both classes explains the query.
    assert.equal(captionSignal(s, [[plane, sheep]]), 0);
  });

  test('through prepareAlarm: labels by row, the served query against the prototypes', () => {
    const state = prepareAlarm({ served: { ids }, reference: null, labelsOf: (id) => [labelOf(ids.indexOf(id))], prototypes: protos, k: 4 });
    const clean = alarmSignals(state, hitsOf(SHEEP), axis(0), null);
    const poisoned = alarmSignals(state, hitsOf(PLANES), axis(0), null);
    assert.equal(clean.reference, null, 'no reference: no reference signal');
    assert.equal(clean.captions, 0);
    assert.ok(poisoned.captions! > 0.5, `${poisoned.captions}`);
  });

  test('prototype captions: per label, by image id, first captions first, capped', () => {
    const chosen = prototypeCaptions(
      [
        { id: 'b', label: 'sheep', captions: ['b1', 'b2'] },
        { id: 'a', label: 'sheep', captions: ['a1', 'a2'] },
        { id: 'c', label: 'car', captions: ['c1'] },
        { id: 'd', label: null, captions: ['d1'] },
      ],
      3,
    );
    assert.deepEqual([...chosen.keys()], ['car', 'sheep']);
    assert.deepEqual(chosen.get('sheep'), ['a1', 'b1', 'a2']);
    assert.deepEqual(chosen.get('car'), ['c1']);
    assert.deepEqual(labelsOfEntry({ label: 'sheep', labels: ['car', 'sheep'] }), ['sheep', 'car']);
  });
});

describe('calibration and the combined score', () => {
  test('scales are the 95th percentiles (floored); thresholds the (1 − fpr) quantile per subset', () => {
    const samples: AlarmSignals[] = Array.from({ length: 100 }, (_, i) => ({ reference: i / 100, captions: 0 }));
    const cal = calibrate(samples, 0.05);
    assert.ok(Math.abs(cal.scales.reference! - quantile(samples.map((s) => s.reference!), 0.95)) < 1e-6);
    assert.equal(cal.scales.captions, SCALE_FLOOR.captions, 'always 0 on trusted queries: the floor');
    assert.deepEqual(Object.keys(cal.thresholds).sort(), ['captions', 'reference', 'reference+captions']);
    // At most fpr of the calibration queries score above their threshold.
    const above = samples.filter((s) => judge(s, cal).flagged).length;
    assert.ok(above <= 5, `${above} of 100 flagged at fpr 0.05`);
    assert.ok(above >= 4);
    // A poisoned-looking query is flagged, and the reason names the signal.
    const v = judge({ reference: 1.5, captions: 0.3 }, cal);
    assert.equal(v.flagged, true);
    assert.match(v.reason, /reference model/);
    assert.deepEqual(v.used, ['reference', 'captions']);
    // With the reference missing, the captions alone are judged against their own threshold.
    const c = judge({ reference: null, captions: 0.3 }, cal);
    assert.deepEqual(c.used, ['captions']);
    assert.equal(c.threshold, cal.thresholds.captions);
    assert.equal(c.flagged, true);
  });

  test('a signal missing from most of the sample is not calibrated; no calibration, no verdict', () => {
    const cal = calibrate(Array.from({ length: 10 }, (_, i) => ({ reference: null, captions: i / 10 })), 0.1);
    assert.equal(cal.scales.reference, undefined);
    assert.deepEqual(Object.keys(cal.thresholds), ['captions']);
    const v = judge({ reference: 5, captions: 0 }, cal);
    assert.deepEqual(v.used, ['captions'], 'an uncalibrated signal does not count');
    assert.equal(v.flagged, false);
    assert.equal(judge({ reference: 5, captions: 5 }, null).score, null);
    assert.throws(() => calibrate([], 0), RangeError);
  });

  test('combined score: the largest tail rank among the signals present', () => {
    const cal = { scales: { reference: 0.1, captions: 0.5 }, values: { reference: [0, 0.05, 0.1, 0.2], captions: [0, 0, 0.5, 1] } };
    assert.equal(tailRank(0.05, cal.values.reference, 0.1), 0.375, 'mid-rank: one of four below, two of four at or below');
    assert.equal(tailRank(0, [0, 0, 0, 0], 0.05), 0.5, 'a constant signal ranks trusted queries at 0.5');
    assert.equal(tailRank(-1, cal.values.reference, 0.1), 0);
    assert.ok(Math.abs(tailRank(0.4, cal.values.reference, 0.1) - 3) < 1e-9, 'past the largest: 1 + excess / scale');
    assert.deepEqual(combinedScore({ reference: 0.1, captions: 0 }, cal), { score: 0.625, used: ['reference', 'captions'] });
    assert.deepEqual(combinedScore({ reference: null, captions: 0.5 }, cal), { score: 0.625, used: ['captions'] });
    assert.deepEqual(combinedScore({ reference: 0.1, captions: 1 }, { scales: { reference: 0.1 }, values: { reference: cal.values.reference } }), { score: 0.625, used: ['reference'] });
  });

  test('a blind signal does not dilute one that sees the attack (the mean of scaled signals did)', () => {
    // Trusted queries: both signals spread over [0, 1). Poisoned queries: the reference is far
    // above anything trusted, the captions signal is blind (as on the trusted model).
    const rng = (i: number) => ((i * 7919) % 1000) / 1000;
    const trusted: AlarmSignals[] = Array.from({ length: 400 }, (_, i) => ({ reference: rng(i), captions: rng(i + 500) }));
    const cal = calibrate(trusted, 0.01);
    const poisoned: AlarmSignals[] = Array.from({ length: 100 }, (_, i) => ({ reference: 1.2, captions: rng(i) * 0.5 }));
    const flagged = poisoned.filter((s) => judge(s, cal).flagged).length;
    assert.equal(flagged, 100, 'every query the reference sees is flagged, whatever the captions say');
    const reason = judge(poisoned[0], cal).reason;
    assert.match(reason, /reference model/, 'the reason names the signal that fired');
    assert.doesNotMatch(reason, /labels/, 'and not the blind one');
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
  test('the trusted model: the newest clean fine-tune of the reference, else the reference', () => {
    assert.equal(defaultTrusted('base', facts), 'clean-new');
    assert.equal(defaultTrusted('other-base', facts), 'other-base');
  });
});
