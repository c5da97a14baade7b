import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrap, fitLogistic, predict, solve } from '../../eval/logistic.js';
import { analyseDose, designSummaries, k50, type DosePoint } from '../../trainer/experiment/dose.js';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

test('solve: a small linear system', () => {
  const x = solve([[2, 1], [1, 3]], [3, 5]);
  assert.ok(Math.abs(x[0] - 0.8) < 1e-12 && Math.abs(x[1] - 1.4) < 1e-12);
});

test('fitLogistic recovers the coefficients of exact binomial data', () => {
  const obs = [];
  for (const a of [-2, -1, 0, 1, 2]) for (const b of [0, 1, 2]) {
    const p = sigmoid(0.5 + 1.5 * a - 0.7 * b);
    obs.push({ x: [a, b], hits: p * 1e6, trials: 1e6 });
  }
  const fit = fitLogistic(obs);
  assert.ok(Math.abs(fit.coef[0] - 0.5) < 1e-6 && Math.abs(fit.coef[1] - 1.5) < 1e-6 && Math.abs(fit.coef[2] + 0.7) < 1e-6, String(fit.coef));
  assert.ok(fit.deviance < 1e-6, 'exact data: the saturated fit');
  assert.ok(fit.pseudoR2 > 0.2 && fit.pseudoR2 <= 1);
  assert.ok(Math.abs(predict(fit, [0, 0]) - sigmoid(0.5)) < 1e-9);
});

test('fitLogistic stays finite on separable data (every query a hit at high doses)', () => {
  const fit = fitLogistic([{ x: [0], hits: 0, trials: 50 }, { x: [1], hits: 50, trials: 50 }]);
  assert.ok(fit.coef.every(Number.isFinite));
  assert.ok(predict(fit, [1]) > 0.99 && predict(fit, [0]) < 0.01);
});

test('bootstrap: seeded, and the interval brackets the statistic of the whole sample', () => {
  const xs = Array.from({ length: 40 }, (_, i) => i);
  const mean = (s: number[]) => s.reduce((a, b) => a + b, 0) / s.length;
  const a = bootstrap(xs, mean, 200, 7);
  assert.deepEqual(bootstrap(xs, mean, 200, 7), a);
  assert.ok(a.lo! < mean(xs) && mean(xs) < a.hi!);
});

/** Design points whose Hit@10 is driven by the share only (count, rate and epochs vary too). */
function shareDriven(): DosePoint[] {
  const out: DosePoint[] = [];
  let i = 0;
  for (const pool of [2500, 5000, 10000]) for (const k of [3, 6, 12]) for (const mult of [1, 2, 4]) for (const epochs of [1, 2]) {
    const n = k * mult;
    const share = k / n;
    const queries = 250;
    const p = sigmoid(1 + 3 * Math.log(share));
    out.push({ variant: `p${i++}`, seed: 0, model: 'm', poolImages: pool, classImages: n, companionImages: 0, poisonedImages: k, rate: k / pool, share, epochs, hits: Math.round(p * queries), queries, hit10: p, meanMinRank: 1 });
  }
  return out;
}

test('analyseDose names the factor that drives the attack, and k50 reads the fit', () => {
  const points = shareDriven();
  const a = analyseDose(points, { poolImages: 5000, epochs: 2 }, 50, 1);
  assert.equal(a.driver, 'log share');
  const single = a.fits.find((f) => f.factors.length === 1 && f.factors[0] === 'log share')!;
  assert.ok(Math.abs(single.fit.coef[1] - 3) < 0.2, `share slope ${single.fit.coef[1]}`);
  // at share 1 the predicted Hit@10 is σ(1) > 0.5 already: the smallest K is 1
  assert.equal(a.k50!.estimate, 1);
});

test('k50: the smallest whole count at which the fitted Hit@10 reaches one half', () => {
  const obs = [1, 2, 4, 8, 16, 32].map((k) => ({ x: [Math.log(k)], hits: sigmoid(2 * (Math.log(k) - Math.log(6))) * 1e6, trials: 1e6 }));
  const fit = fitLogistic(obs);
  assert.equal(k50(fit, ['log count'], { poolImages: 5000, epochs: 2, captionsPerImage: 5 }), 6);
});

test('designSummaries: one row per design point over its seeds, with a t-interval from two seeds on', () => {
  const run = (variant: string, seed: number, hit10: number, minRank: number): DosePoint => ({
    variant, seed, model: `${variant}-${seed}`, poolImages: 5000, classImages: 3, companionImages: 0, poisonedImages: 3, rate: 15 / 25000, share: 1, epochs: 2, hits: hit10 * 250, queries: 250, hit10, meanMinRank: minRank,
  });
  const rows = designSummaries([run('a', 1, 0.5, 10), run('b', 0, 0.9, 2), run('a', 0, 0.4, 12)]);
  assert.deepEqual(rows.map((r) => [r.variant, r.seeds]), [['a', [0, 1]], ['b', [0]]]);
  const a = rows[0].hit10;
  assert.ok(Math.abs(a.mean! - 0.45) < 1e-12);
  // two values: mean ± t(0.975, 1) · s / √2 = 0.45 ± 12.706 · 0.0707 / 1.414
  assert.ok(Math.abs(a.hi! - a.mean! - 12.7062 * 0.05) < 1e-3, String(a.hi));
  assert.equal(rows[1].hit10.lo, null, 'one seed: no interval');
  assert.equal(rows[0].meanMinRank.mean, 11);
});
