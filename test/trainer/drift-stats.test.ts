/**
 * The drift statistic of a study: the paper's paired, two-tailed t-test across runs (seeds) of
 * each run's mean text drift against its mean image drift (Table 11), on constructed numbers;
 * and the report page stating it as the result, with the one-run test over images as descriptive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { driftTestAcrossRuns, interval } from '../../eval/statistics.js';
import { renderReportHtml, type Report } from '../../trainer/experiment/experiment.js';
import type { VariantAggregate } from '../../trainer/experiment/study-report.js';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

test('across runs: differences 0.05, 0.06, 0.03 over 3 seeds give t(2) = 5.292, p = 0.0339', () => {
  const r = driftTestAcrossRuns([
    { text: 0.1, image: 0.05 },
    { text: 0.12, image: 0.06 },
    { text: 0.11, image: 0.08 },
  ])!;
  // mean 0.04667, sd 0.015275: t = mean / (sd / √3); for df = 2, p = 1 − |t| / √(2 + t²).
  const d = [0.05, 0.06, 0.03];
  const m = (0.05 + 0.06 + 0.03) / 3;
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / 2);
  const t = m / (sd / Math.sqrt(3));
  assert.equal(r.n, 3);
  assert.equal(r.df, 2);
  close(r.meanDiff, m);
  close(r.t, t);
  close(t, 5.2915, 1e-4);
  close(r.p, 1 - t / Math.sqrt(2 + t * t), 1e-9);
  close(r.p, 0.0339, 1e-4);
});

test('across runs: the sign of text − image and runs that disagree', () => {
  // Image drift above text drift in every run: t < 0, same |t| as the mirrored runs.
  const up = driftTestAcrossRuns([{ text: 0.1, image: 0.2 }, { text: 0.1, image: 0.25 }, { text: 0.1, image: 0.22 }])!;
  const down = driftTestAcrossRuns([{ text: 0.2, image: 0.1 }, { text: 0.25, image: 0.1 }, { text: 0.22, image: 0.1 }])!;
  assert.ok(up.t < 0);
  close(up.t, -down.t);
  close(up.p, down.p);
  // Runs that disagree: the mean difference is small against its spread, so no significance —
  // however many images each run has (a per-image test within one run would say nothing of this).
  const mixed = driftTestAcrossRuns([{ text: 0.15, image: 0.1 }, { text: 0.06, image: 0.1 }, { text: 0.11, image: 0.1 }])!;
  close(mixed.meanDiff, 0.02 / 3);
  assert.ok(mixed.p > 0.5, String(mixed.p));
});

test('across runs: no test with one run or with identical drifts', () => {
  assert.equal(driftTestAcrossRuns([]), null);
  assert.equal(driftTestAcrossRuns([{ text: 0.2, image: 0.1 }]), null);
  assert.equal(driftTestAcrossRuns([{ text: 0.1, image: 0.1 }, { text: 0.2, image: 0.2 }]), null);
});

function variant(label: string, seeds: number[], runs: Array<{ text: number; image: number }>): VariantAggregate {
  const one = { n: 1000, meanDiff: 0.01, sdDiff: 0.02, t: 15.8, df: 999, p: 1e-40 };
  return {
    name: label, group: label, kind: 'attack', label, setting: null, attack: { type: 'II', goal: 'sheep>aeroplane' }, dataset: 'scenes',
    seeds, models: seeds.map((s) => `m${s}`), goals: [], utility: null, poisonRate: null, trainSeconds: null,
    drift: {
      image: interval(runs.map((r) => r.image)),
      text: interval(runs.map((r) => r.text)),
      textMinusImage: interval(runs.map((r) => r.text - r.image)),
      perSeed: seeds.map((seed) => ({ seed, test: one })),
      acrossSeeds: driftTestAcrossRuns(runs),
    },
  };
}

test('report page: the across-seed test is the result; the one-run test over images is descriptive', () => {
  const report = {
    format: 'poisonlens-report/1', id: 'x', title: 'x', description: '', notes: [], createdAt: 'now',
    study: { file: null, sha256: '0'.repeat(64), seeds: [0, 1, 2], base: null, finetune: {}, evaluation: {}, sweep: null },
    dataset: { name: 'scenes', manifestSha256: '0'.repeat(64), counts: {}, classes: [] },
    base: { model: 'b', trainset: null, wallSeconds: null, steps: null, recipe: null },
    run: { wallSeconds: 1, steps: { total: 0, built: 0, reused: 0, byKind: {} } },
    runs: [], tables: [], sweeps: [], heatmap: null,
    variants: [
      variant('three seeds', [0, 1, 2], [{ text: 0.1, image: 0.05 }, { text: 0.12, image: 0.06 }, { text: 0.11, image: 0.08 }]),
      variant('one seed', [0], [{ text: 0.1, image: 0.05 }]),
    ],
  } as unknown as Report;
  const html = renderReportHtml(report);
  assert.match(html, /three seeds: text − image drift .*; paired two-tailed t-test across 3 seeds: t\(2\) = 5\.29, p = 0\.0339; over the test images of seed 0 \(descriptive, one run\): t\(999\) = 15\.80/);
  assert.match(html, /one seed: text − image drift .*; 1 seed: no test across runs \(needs ≥ 2\); over the test images of seed 0 \(descriptive, one run\)/);
});
