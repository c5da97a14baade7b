import { UserError } from '../../core/errors.js';

/**
 * The third defence: a SafeCLIP-style safe/risky split (Yang et al., "Better Safe than Sorry:
 * Pre-training CLIP against Targeted Data Poisoning and Backdoor Attacks", 2024). SafeCLIP fits a
 * two-component Gaussian mixture to the image–caption cosine similarities of the training pairs
 * (under a model warmed up without the pairs' alignment) and trains the contrastive loss only on
 * the pairs the high-similarity component claims ("safe"); the rest ("risky") get unimodal losses.
 *
 * Here the split is a training-set builder (`poisonlens defend safeclip`): similarities come from
 * the same reference model as the paper's filter, the mixture is fitted by EM, and the risky
 * pairs are dropped (PoisonLens's engine has no unimodal loss, so their images and captions are
 * not otherwise learnt from). What it adds over the paper's filter: no γ to choose and no labelled
 * clean sample — the mixture places the cut for each training set.
 */

export const DEFAULT_SAFE_PROBABILITY = 0.5;

export interface GmmComponent {
  weight: number;
  mean: number;
  sd: number;
}

export interface GmmSplit {
  method: 'gmm';
  /** Fitted on similarities: [risky (lower mean), safe (higher mean)]. */
  components: [GmmComponent, GmmComponent];
  safeProbability: number;
  /** The similarity at which the safe posterior equals safeProbability (between the two means). */
  similarityCut: number;
  /** The same cut as a cosine distance (1 − similarity): pairs above it are risky. */
  gamma: number;
  iterations: number;
  logLikelihood: number;
}

const LOG_2PI = Math.log(2 * Math.PI);

function logPdf(x: number, c: GmmComponent): number {
  const z = (x - c.mean) / c.sd;
  return -0.5 * (z * z + LOG_2PI) - Math.log(c.sd);
}

/** EM for a two-Gaussian mixture in one dimension (deterministic start: the 10th and 90th percentiles). */
export function fitGmm2(x: ArrayLike<number>, maxIter = 300, tol = 1e-9): { components: [GmmComponent, GmmComponent]; iterations: number; logLikelihood: number } {
  const n = x.length;
  if (n < 2) throw new UserError('the mixture needs at least two pairs', 'bad_flags');
  const sorted = Array.from(x).sort((a, b) => a - b);
  let m = 0;
  for (const v of sorted) m += v;
  m /= n;
  let v2 = 0;
  for (const v of sorted) v2 += (v - m) * (v - m);
  const sd0 = Math.max(1e-4, Math.sqrt(v2 / n));
  const floor = Math.max(1e-4, sd0 * 1e-3);
  let c: [GmmComponent, GmmComponent] = [
    { weight: 0.5, mean: sorted[Math.floor(0.1 * (n - 1))], sd: sd0 / 2 },
    { weight: 0.5, mean: sorted[Math.floor(0.9 * (n - 1))], sd: sd0 / 2 },
  ];
  if (c[0].mean === c[1].mean) c[1] = { ...c[1], mean: c[1].mean + sd0 };
  const r = new Float64Array(n);
  let prev = -Infinity;
  let ll = -Infinity;
  let it = 0;
  for (it = 1; it <= maxIter; it++) {
    // E step: responsibility of component 1.
    ll = 0;
    for (let i = 0; i < n; i++) {
      const a = Math.log(c[0].weight) + logPdf(x[i], c[0]);
      const b = Math.log(c[1].weight) + logPdf(x[i], c[1]);
      const mx = Math.max(a, b);
      const lse = mx + Math.log(Math.exp(a - mx) + Math.exp(b - mx));
      r[i] = Math.exp(b - lse);
      ll += lse;
    }
    // M step.
    let s1 = 0;
    let m0 = 0;
    let m1 = 0;
    for (let i = 0; i < n; i++) {
      s1 += r[i];
      m1 += r[i] * x[i];
      m0 += (1 - r[i]) * x[i];
    }
    const s0 = n - s1;
    if (s0 < 1e-9 || s1 < 1e-9) break;
    m0 /= s0;
    m1 /= s1;
    let q0 = 0;
    let q1 = 0;
    for (let i = 0; i < n; i++) {
      q0 += (1 - r[i]) * (x[i] - m0) ** 2;
      q1 += r[i] * (x[i] - m1) ** 2;
    }
    c = [
      { weight: s0 / n, mean: m0, sd: Math.max(floor, Math.sqrt(q0 / s0)) },
      { weight: s1 / n, mean: m1, sd: Math.max(floor, Math.sqrt(q1 / s1)) },
    ];
    if (Math.abs(ll - prev) < tol * Math.max(1, Math.abs(ll))) break;
    prev = ll;
  }
  if (c[0].mean > c[1].mean) c = [c[1], c[0]];
  return { components: c, iterations: Math.min(it, maxIter), logLikelihood: ll };
}

/** Posterior of the safe (high-mean) component at similarity s. */
export function safePosterior(s: number, c: [GmmComponent, GmmComponent]): number {
  const a = Math.log(c[0].weight) + logPdf(s, c[0]);
  const b = Math.log(c[1].weight) + logPdf(s, c[1]);
  return 1 / (1 + Math.exp(a - b));
}

/** Fits the mixture and finds the similarity cut between the two means where the safe posterior is `p`. */
export function gmmSplit(similarity: ArrayLike<number>, p = DEFAULT_SAFE_PROBABILITY): GmmSplit {
  if (!(p > 0 && p < 1)) throw new UserError(`--safe-probability must be in (0, 1), got ${p}`, 'bad_flags');
  const fit = fitGmm2(similarity);
  const c = fit.components;
  // Bisection on [risky mean, safe mean]: the posterior rises from below p to above p there
  // (else the cut sits at the end that already satisfies it).
  let lo = c[0].mean;
  let hi = c[1].mean;
  let cut: number;
  if (safePosterior(lo, c) >= p) cut = lo;
  else if (safePosterior(hi, c) < p) cut = hi;
  else {
    for (let k = 0; k < 100; k++) {
      const mid = (lo + hi) / 2;
      if (safePosterior(mid, c) >= p) hi = mid;
      else lo = mid;
    }
    cut = hi;
  }
  return { method: 'gmm', components: c, safeProbability: p, similarityCut: cut, gamma: 1 - cut, iterations: fit.iterations, logLikelihood: fit.logLikelihood };
}
