import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/random.js';
import { localDensityScores, pairPoints } from '../../trainer/defend/detect.js';
import { filterTrainset, rocCurve } from '../../trainer/defend/filter.js';
import { detectTrainset } from '../../trainer/defend/detect.js';
import { alarmWorld, alarmWorldMissing, alarmWorkspace } from '../helpers/alarm-world.js';
import type { Workspace } from '../../core/workspace.js';

/**
 * `defend detect` (Huang et al.-style local-density scores): on constructed pair embeddings a few
 * mismatched pairs (a sheep caption on an aeroplane picture) sit in sparse neighbourhoods and score
 * highest; a poison repeated more often than k forms its own dense cluster (the known limit).
 */
const D = 8;
function unit(v: number[]): number[] {
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}

/** Images and captions of 3 classes on axes 0..2 (captions on axes 3..5), jittered; pairs image i ↔ caption i, the last `poisons` re-paired across classes. */
function world(perClass: number, poisons: number, seed = 1) {
  const rng = new Rng(seed);
  const images: number[][] = [];
  const captions: number[][] = [];
  const cls: number[] = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < perClass; i++) {
      const img = new Array(D).fill(0).map(() => rng.float(-0.15, 0.15));
      img[c] += 1;
      const cap = new Array(D).fill(0).map(() => rng.float(-0.15, 0.15));
      cap[3 + c] += 1;
      images.push(unit(img));
      captions.push(unit(cap));
      cls.push(c);
    }
  }
  const n = images.length;
  const pairImage = Int32Array.from({ length: n + poisons }, (_, i) => (i < n ? i : perClass + (i - n))); // aeroplane pictures
  const pairCaption = Int32Array.from({ length: n + poisons }, (_, i) => (i < n ? i : i - n)); // sheep captions
  const e = { dim: D, images: Float32Array.from(images.flat()), captions: Float32Array.from(captions.flat()), pairImage, pairCaption };
  return { e, poisoned: new Set(Array.from({ length: poisons }, (_, i) => n + i)) };
}

describe('local-density scores', () => {
  test('pair points are unit vectors: (image ⊕ caption) / √2', () => {
    const { e } = world(4, 0);
    const p = pairPoints(e);
    for (let i = 0; i < 12; i++) assert.ok(Math.abs(Math.hypot(...p.subarray(i * 2 * D, (i + 1) * 2 * D)) - 1) < 1e-5);
  });

  test('a few mismatched pairs score highest (k-distance and SLOF, exact and HNSW agree)', () => {
    const { e, poisoned } = world(40, 3);
    const pts = pairPoints(e);
    const exact = localDensityScores(pts, 2 * D, 8, { exact: true });
    for (const s of [exact.kdist, exact.slof]) {
      assert.equal(rocCurve(s, poisoned).auc, 1);
      const top = Array.from(s.keys()).sort((a, b) => s[b] - s[a]).slice(0, 3);
      assert.deepEqual(top.sort((a, b) => a - b), [...poisoned]);
    }
    assert.ok(exact.slof[[...poisoned][0]] > 1.5, 'a poison is far sparser than its neighbours');
  });

  test('the known limit: a poison repeated more often than k is dense; a larger k sees it again', () => {
    const { e, poisoned } = world(40, 20);
    const pts = pairPoints(e);
    const small = rocCurve(localDensityScores(pts, 2 * D, 5, { exact: true }).kdist, poisoned).auc!;
    const large = rocCurve(localDensityScores(pts, 2 * D, 30, { exact: true }).kdist, poisoned).auc!;
    assert.ok(large > small, `k 30 (${large}) beats k 5 (${small}) against 20 repeated poisons`);
    assert.ok(large > 0.95);
  });

  test('bad k is refused', () => {
    const { e } = world(2, 0);
    assert.throws(() => localDensityScores(pairPoints(e), 2 * D, 10), /neighbours/);
    assert.throws(() => localDensityScores(pairPoints(e), 2 * D, 0), /positive/);
  });
});

describe('defend detect on the alarm test world', { skip: alarmWorldMissing() ?? undefined, timeout: 1_800_000 }, () => {
  let ws: Workspace;
  let dispose: () => void;
  before(async () => {
    ({ ws, dispose } = alarmWorkspace(await alarmWorld()));
  });
  after(() => dispose?.());

  test('writes a filtered training set and the filter report (scores, ROC, precision/recall)', async () => {
    const r = await detectTrainset(ws, { trainset: 'alarm-poison', reference: 'alarm-base', name: 'alarm-detect', gamma: 'auto', k: 40, quiet: true, register: false });
    const rep = JSON.parse(readFileSync(r.reportPath, 'utf8'));
    assert.equal(rep.distances.length, 108);
    assert.equal(r.trainset.card.builder.name, 'detect-slof');
    assert.equal(r.trainset.card.builder.params.k, 40);
    assert.equal(rep.metrics.poisoned, 36);
    assert.ok(rep.roc && rep.roc.auc !== null);
    assert.ok(existsSync(join(r.trainset.dir, 'roc.svg')));
    // The cosine filter on the same set, for comparison (what the README's defences table compares).
    const f = await filterTrainset(ws, { trainset: 'alarm-poison', reference: 'alarm-base', name: 'alarm-filter', gamma: 'auto', quiet: true, register: false });
    console.log(
      `alarm world Attack II set (36 of 108 pairs poisoned, every sheep caption re-paired): defend detect (slof, k 40) ROC AUC ${rep.roc.auc.toFixed(3)}, recall ${rep.metrics.recall}; ` +
        `cosine filter ROC AUC ${f.report.roc?.auc?.toFixed(3)}, recall ${f.report.metrics.recall}`,
    );
  });
});
