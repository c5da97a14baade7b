import { mean, pairedTTest, studentTwoSidedP, type TTestResult } from '../../indexer/metrics.js';

/**
 * Summary statistics over seeds: the mean and its 95% confidence interval from Student's
 * t-distribution (mean ± t_{0.975, n−1} · s / √n). One value gives the value itself and no
 * interval; no values give nulls.
 */
export interface Interval {
  mean: number | null;
  /** Lower and upper end of the 95% interval (null with fewer than two values). */
  lo: number | null;
  hi: number | null;
  /** Sample standard deviation (n − 1). */
  sd: number | null;
  n: number;
  values: number[];
}

/** The two-sided critical value t with P(|T| ≥ t) = alpha for df degrees of freedom (bisection). */
export function tCritical(df: number, alpha = 0.05): number {
  if (!(df >= 1)) throw new Error(`tCritical: df must be ≥ 1, got ${df}`);
  let lo = 0;
  let hi = 1;
  while (studentTwoSidedP(hi, df) > alpha) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (studentTwoSidedP(mid, df) > alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function interval(values: ReadonlyArray<number | null | undefined>): Interval {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: null, lo: null, hi: null, sd: null, n: 0, values: [] };
  const m = mean(xs);
  if (n === 1) return { mean: m, lo: null, hi: null, sd: null, n, values: xs };
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  const sd = Math.sqrt(ss / (n - 1));
  const half = tCritical(n - 1) * (sd / Math.sqrt(n));
  return { mean: m, lo: m - half, hi: m + half, sd, n, values: xs };
}

/** One run's (seed's) mean drift of the text and of the image embeddings. */
export interface RunDrift {
  text: number;
  image: number;
}

/**
 * The paper's drift statistic (Table 11): a paired, two-tailed t-test across runs (seeds) of each
 * run's mean text drift against its mean image drift (df = runs − 1). A test over the images of
 * one run treats them as independent samples: descriptive only. Null with fewer than two runs or
 * when text and image drift are equal in every run (no test to make).
 */
export function driftTestAcrossRuns(runs: readonly RunDrift[]): TTestResult | null {
  if (runs.length < 2 || runs.every((r) => r.text === r.image)) return null;
  return pairedTTest(
    runs.map((r) => r.text),
    runs.map((r) => r.image),
  );
}
