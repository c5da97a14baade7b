import { Rng } from '../core/random.js';
import { dot } from '../indexer/dot.js';

/**
 * Binomial logistic regression by iteratively reweighted least squares (Newton's method), for
 * dose–response fits: each observation is `hits` successes out of `trials` at predictors `x`
 * (an intercept is added). Small and exact enough for a few dozen runs and a handful of factors.
 */
export interface BinomialObs {
  x: number[];
  hits: number;
  trials: number;
}

export interface LogisticFit {
  /** [intercept, ...one per predictor] */
  coef: number[];
  /** Standard errors from the inverse Fisher information. */
  se: number[];
  deviance: number;
  /** Deviance of the intercept-only model. */
  nullDeviance: number;
  aic: number;
  /** McFadden's pseudo-R² on the binomial log-likelihood (1 − logL / logL_null). */
  pseudoR2: number;
  iterations: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function fitLogistic(obs: BinomialObs[], maxIter = 50): LogisticFit {
  const p = obs[0].x.length + 1;
  const rows = obs.map((o) => [1, ...o.x]);
  let beta = new Array<number>(p).fill(0);
  let info: number[][] = [];
  let it = 0;
  for (; it < maxIter; it++) {
    const grad = new Array<number>(p).fill(0);
    info = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    obs.forEach((o, i) => {
      const mu = sigmoid(linear(rows[i], beta));
      const w = o.trials * mu * (1 - mu);
      for (let a = 0; a < p; a++) {
        grad[a] += rows[i][a] * (o.hits - o.trials * mu);
        for (let b = 0; b < p; b++) info[a][b] += w * rows[i][a] * rows[i][b];
      }
    });
    // a tiny ridge keeps separable designs (every query a hit) finite
    for (let a = 0; a < p; a++) info[a][a] += 1e-8;
    const step = solve(info, grad);
    beta = beta.map((b, a) => b + step[a]);
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  const cov = invert(info);
  const logL = logLik(obs, rows, beta);
  const nullFit = obs.length && p > 1 ? nullLogLik(obs) : logL;
  return {
    coef: beta,
    se: cov.map((r, a) => Math.sqrt(Math.max(0, r[a]))),
    deviance: 2 * (saturatedLogLik(obs) - logL),
    nullDeviance: 2 * (saturatedLogLik(obs) - nullFit),
    aic: -2 * logL + 2 * p,
    pseudoR2: nullFit === 0 ? 0 : 1 - logL / nullFit,
    iterations: it + 1,
  };
}

export function predict(fit: LogisticFit, x: number[]): number {
  return sigmoid(linear([1, ...x], fit.coef));
}

/** The linear predictor x·β of one observation (with its intercept column). */
function linear(a: number[], b: number[]): number {
  return dot(a, b);
}

function logLik(obs: BinomialObs[], rows: number[][], beta: number[]): number {
  let l = 0;
  obs.forEach((o, i) => {
    const z = linear(rows[i], beta);
    // log σ(z) and log(1 − σ(z)) without overflow
    const logP = -Math.log1p(Math.exp(-z));
    const logQ = -Math.log1p(Math.exp(z));
    l += o.hits * (Number.isFinite(logP) ? logP : z) + (o.trials - o.hits) * (Number.isFinite(logQ) ? logQ : -z);
  });
  return l;
}

function nullLogLik(obs: BinomialObs[]): number {
  const h = obs.reduce((s, o) => s + o.hits, 0);
  const n = obs.reduce((s, o) => s + o.trials, 0);
  const q = h / n;
  return xlogy(h, q) + xlogy(n - h, 1 - q);
}

function saturatedLogLik(obs: BinomialObs[]): number {
  return obs.reduce((s, o) => s + xlogy(o.hits, o.hits / o.trials) + xlogy(o.trials - o.hits, 1 - o.hits / o.trials), 0);
}

const xlogy = (x: number, y: number) => (x === 0 ? 0 : x * Math.log(y));

/** Gaussian elimination with partial pivoting (the systems here are 2×2 to 5×5). */
export function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c || m[c][c] === 0) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((r, i) => (r[i] === 0 ? 0 : r[n] / r[i]));
}

function invert(a: number[][]): number[][] {
  const n = a.length;
  const cols = Array.from({ length: n }, (_, j) => solve(a, Array.from({ length: n }, (_, i) => (i === j ? 1 : 0))));
  return Array.from({ length: n }, (_, i) => cols.map((c) => c[i]));
}

/** Percentile bootstrap: `stat` over `reps` resamples (with replacement) of `items`, seeded. */
export function bootstrap<T>(items: T[], stat: (sample: T[]) => number | null, reps: number, seed: number): { values: number[]; lo: number | null; hi: number | null } {
  const rng = new Rng(seed);
  const values: number[] = [];
  for (let r = 0; r < reps; r++) {
    const sample = items.map(() => items[Math.floor(rng.next() * items.length)]);
    const v = stat(sample);
    if (v !== null && Number.isFinite(v)) values.push(v);
  }
  values.sort((a, b) => a - b);
  const q = (f: number) => (values.length ? values[Math.min(values.length - 1, Math.max(0, Math.round(f * (values.length - 1))))] : null);
  return { values, lo: q(0.025), hi: q(0.975) };
}
