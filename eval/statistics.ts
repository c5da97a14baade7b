/**
 * Statistics of evaluations and studies: mean and median, the paired t-test and Student's
 * t-distribution (the paper's drift test, Table 11), the 95% intervals over seeds that every
 * report shows, and Spearman's rank correlation (which traits make an attack goal hard, Figure
 * 5b). Pure functions, no I/O.
 */

/** The median as numpy computes it (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let t = 0;
  for (const v of values) t += v;
  return t / values.length;
}

export interface TTestResult {
  n: number;
  /** Mean of x − y. */
  meanDiff: number;
  /** Sample standard deviation of x − y. */
  sdDiff: number;
  t: number;
  df: number;
  /** Two-sided p-value. */
  p: number;
}

/**
 * Paired (dependent-samples) Student t-test of x against y, two-sided, as scipy.stats.ttest_rel.
 * Used for text-vs-image encoder drift: x_i and y_i are the drifts of item i's text and image.
 */
export function pairedTTest(x: readonly number[], y: readonly number[]): TTestResult {
  if (x.length !== y.length) throw new Error(`pairedTTest: ${x.length} and ${y.length} values`);
  const n = x.length;
  if (n < 2) throw new Error('pairedTTest needs at least two pairs');
  const d = x.map((v, i) => v - y[i]);
  const m = mean(d);
  let ss = 0;
  for (const v of d) ss += (v - m) * (v - m);
  const sd = Math.sqrt(ss / (n - 1));
  const df = n - 1;
  const t = sd === 0 ? (m === 0 ? NaN : m > 0 ? Infinity : -Infinity) : m / (sd / Math.sqrt(n));
  const p = Number.isNaN(t) ? 1 : !Number.isFinite(t) ? 0 : studentTwoSidedP(t, df);
  return { n, meanDiff: m, sdDiff: sd, t, df, p };
}

/** P(|T| ≥ |t|) for Student's t with df degrees of freedom: I_{df/(df+t²)}(df/2, 1/2). */
export function studentTwoSidedP(t: number, df: number): number {
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/** ln Γ(x), Lanczos approximation (g = 7, n = 9); ~15 significant digits for x > 0. */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularised incomplete beta function I_x(a, b) (continued fraction, modified Lentz). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
  if (x > (a + 1) / (a + b + 2)) return 1 - regularizedBeta(1 - x, b, a);
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  f = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    f *= d * c;
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return (Math.exp(lnFront) * f) / a;
}

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

export interface Correlation {
  rho: number;
  /** 95% interval by Fisher's z with Fieller's variance 1.06 / (n − 3); null under 5 pairs. */
  lo: number | null;
  hi: number | null;
  n: number;
}

/** Ranks from 1, ties given their average rank (as scipy.stats.rankdata). */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const ranks = new Array<number>(values.length);
  for (let a = 0; a < order.length; ) {
    let b = a;
    while (b + 1 < order.length && order[b + 1].v === order[a].v) b++;
    for (let k = a; k <= b; k++) ranks[order[k].i] = (a + b) / 2 + 1;
    a = b + 1;
  }
  return ranks;
}

/** Spearman's rho of paired values (as scipy.stats.spearmanr); null under 3 pairs or when a side is constant. */
export function spearman(x: readonly number[], y: readonly number[]): Correlation | null {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} and ${y.length} values`);
  const n = x.length;
  if (n < 3) return null;
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  if (sxx === 0 || syy === 0) return null;
  const rho = Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
  if (n < 5 || Math.abs(rho) === 1) return { rho, lo: n < 5 ? null : rho, hi: n < 5 ? null : rho, n };
  const z = Math.atanh(rho);
  const half = 1.959964 * Math.sqrt(1.06 / (n - 3));
  return { rho, lo: Math.tanh(z - half), hi: Math.tanh(z + half), n };
}
