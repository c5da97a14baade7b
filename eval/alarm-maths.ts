/**
 * The poisoning alarm's mathematics (issue 21): per-query signals that a text query's results
 * look hijacked, computed from what a search engine has at query time and nothing about the
 * attack, their calibration on a trusted model without labels, and the combined score.
 *
 * Signals (each ≥ 0, 0 = nothing suspicious, larger = more suspicious):
 *  - `reference`: a second model (the reference: by default the served model's base ancestor)
 *    scores the served top-K against the query. With o the mean reference similarity of the
 *    reference's own top-K, m that of the served top-K and μ the query's mean similarity to the
 *    whole gallery (q · mean of the gallery vectors, precomputed), the signal is
 *    (o − m) / (o − μ): 0 when the served results match the query as well, in the reference's
 *    eyes, as the best results the reference finds itself; 1 when they match it no better than an
 *    average gallery image. The paper's pre-training filter moved to retrieval time.
 *  - `words`: no model at all. Do the results' own gallery captions share the query's words as
 *    the gallery's best word matches do (eval/alarm-words.ts)? The same (o − m) / (o − μ) form,
 *    with idf-weighted word coverage in the reference's place. The poison moves the served
 *    model's text→image mapping; it cannot move the gallery's captions.
 *
 * Combination (an OR of per-signal tests, so that a signal that is blind on some attack cannot
 * dilute one that sees it): each signal is turned into its tail rank on the calibration sample
 * (trusted model, the gallery's own captions as queries) — its mid-rank among the calibration
 * values, and beyond the largest calibration value 1 + (excess / scale), the scale being the
 * 95th percentile of its calibration values (floored, so a signal that is always 0 on trusted
 * queries does not divide by 0). The score is the largest tail rank among the signals present.
 * The threshold is the (1 − fpr) quantile of the calibration queries' scores, separately for each
 * subset of signals (a query whose reference is not available is judged on its words alone,
 * against that signal's own threshold). Measured on the all-goals study (README, issue 21): a
 * mean of scaled signals let a blind second signal pull the reference signal's AUROC from 0.99 to
 * 0.97; the largest tail rank kept 0.985.
 */
import { createHash } from 'node:crypto';
import { dot } from '../indexer/dot.js';
import { LruCache } from '../indexer/lru.js';
import type { Neighbour } from '../indexer/types.js';
import { buildWordIndex, wordsCoverage, wordsSignal, type WordIndex } from './alarm-words.js';

export const ALARM_SIGNALS = ['reference', 'words'] as const;
export type AlarmSignalName = (typeof ALARM_SIGNALS)[number];
export type AlarmSignals = Record<AlarmSignalName, number | null>;

/** Scale floors: a signal's scale never falls below these (see the module comment). */
export const SCALE_FLOOR: Record<AlarmSignalName, number> = { reference: 0.05, words: 0.05 };
/** The percentile of the calibration values that scales each signal. */
export const SCALE_QUANTILE = 0.95;
/**
 * Results the alarm looks at (the request's k does not change what the alarm sees). 50, not 10:
 * an attack that moves the targets into ranks 11–50 without yet winning the first ten is still
 * seen (all-goals study: the reference signal's AUROC 0.887 at 10, 0.964 at 25, 0.993 at 50).
 */
export const DEFAULT_ALARM_K = 50;
/** Default false-alarm rate of the calibrated threshold. */
export const DEFAULT_FPR = 0.01;

const EPS = 1e-6;

/**
 * The number of results the alarm scores over a gallery of `size` images: at most k, and at most
 * a twelfth of the gallery, so that the top stays well inside one class of a small gallery (on the
 * alarm test world, 36 images in 3 classes, a top 10 took most of a class and the poisoned
 * model's ordinary queries looked hijacked; a top 3 did not). 1,000 images: 50 (a class has 50).
 */
export function alarmK(size: number, k = DEFAULT_ALARM_K): number {
  return Math.max(1, Math.min(k, Math.floor(size / 12)));
}

// ---------------------------------------------------------------------------------------------
// Signal (a): the reference model.

export interface ReferenceInputs {
  /** Reference similarities of the served top-K results to the query (reference embeddings). */
  servedScores: ArrayLike<number>;
  /** Reference similarities of the reference's own top-K (same K). */
  ownScores: ArrayLike<number>;
  /** The query's mean reference similarity to the whole gallery. */
  galleryMean: number;
}

function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** (o − m) / (o − μ), clamped to ≥ 0 (see the module comment). */
export function referenceSignal(x: ReferenceInputs): number {
  const o = mean(x.ownScores);
  const m = mean(x.servedScores);
  const gap = Math.max(0, o - m);
  return gap / Math.max(o - x.galleryMean, EPS);
}

// ---------------------------------------------------------------------------------------------
// The prepared alarm of one served model over one gallery.

/** A gallery index as the alarm reads it: rows, ids, vectors and a top-k search. */
export interface AlarmGallery {
  ids: string[];
  size: number;
  dim: number;
  vector(row: number): Float32Array;
  search(q: Float32Array, k: number): Neighbour[];
}

export interface AlarmState {
  k: number;
  /** The reference side, when there is a reference that is not the served model. */
  reference: {
    model: string;
    gallery: AlarmGallery;
    mean: Float32Array;
    /** Served row → reference row (null: identical row order). */
    rowMap: Int32Array | null;
  } | null;
  /** The gallery's captions as an inverted index in served row order (eval/alarm-words.ts). */
  words: WordIndex | null;
}

export interface PrepareInput {
  served: { ids: string[] };
  reference: { model: string; gallery: AlarmGallery } | null;
  /** The captions of each gallery image, by image id. */
  captionsOf(id: string): string[];
  k?: number;
}

/** Precomputes everything the per-query signals need (row maps, gallery mean, word index). */
export function prepareAlarm(x: PrepareInput): AlarmState {
  const size = x.served.ids.length;
  const k = alarmK(size, x.k ?? DEFAULT_ALARM_K);
  let reference: AlarmState['reference'] = null;
  if (x.reference) {
    const g = x.reference.gallery;
    let rowMap: Int32Array | null = null;
    const same = g.ids.length === size && x.served.ids.every((id, i) => g.ids[i] === id);
    if (!same) {
      const rows = new Map<string, number>();
      g.ids.forEach((id, i) => rows.set(id, i));
      rowMap = Int32Array.from(x.served.ids, (id) => rows.get(id) ?? -1);
    }
    const acc = new Float64Array(g.dim);
    for (let r = 0; r < g.size; r++) {
      const v = g.vector(r);
      for (let j = 0; j < g.dim; j++) acc[j] += v[j];
    }
    const mean = Float32Array.from(acc, (x) => (g.size ? x / g.size : 0));
    reference = { model: x.reference.model, gallery: g, mean, rowMap };
  }
  const captions = x.served.ids.map((id) => x.captionsOf(id));
  const words = captions.some((c) => c.length > 0) ? sharedWordIndex(captions) : null;
  return { k, reference, words };
}

/**
 * Word indexes by the content of their rows' captions: every model served over the same gallery
 * (the compare view's columns, a calibration's trusted models) shares one index and its
 * per-query cache, instead of building and walking its own.
 */
const WORD_INDEXES = new LruCache<string, WordIndex>(4);

function sharedWordIndex(captionsByRow: string[][]): WordIndex {
  const h = createHash('sha256');
  for (const c of captionsByRow) h.update(`${c.length}\u0000${c.join('\u0000')}\u0001`);
  const key = h.digest('hex');
  let index = WORD_INDEXES.get(key);
  if (!index) WORD_INDEXES.set(key, (index = buildWordIndex(captionsByRow)));
  return index;
}

/**
 * The reference's own top-K scores for a query (the o of the reference signal): a search of the
 * reference's index alone, so the server runs it as soon as the reference has encoded the query,
 * while the served model still encodes it. Null without a reference.
 */
export function referenceOwnScores(state: AlarmState, queryReference: Float32Array): number[] | null {
  const ref = state.reference;
  return ref ? ref.gallery.search(queryReference, Math.min(state.k, ref.gallery.size)).map((n) => n.score) : null;
}

/** The words signal's gallery-only part of a query, computed ahead and cached (see wordsSignal). */
export function prefetchWords(state: AlarmState, text: string): void {
  if (state.words) wordsCoverage(state.words, text, state.k);
}

/**
 * The signals of one query. `hits` are the served model's results (at least the alarm's k of
 * them when the gallery has them); `queryReference` the query's normalised embedding by the
 * reference (null: no reference signal) and `ownScores` its referenceOwnScores when already
 * computed; `text` the query's text.
 */
export function alarmSignals(state: AlarmState, hits: Neighbour[], queryReference: Float32Array | null, text: string, ownScores: number[] | null = null): AlarmSignals {
  const top = hits.slice(0, state.k);
  const out: AlarmSignals = { reference: null, words: null };
  const ref = state.reference;
  if (ref && queryReference && top.length > 0) {
    const served: number[] = [];
    for (const h of top) {
      const row = ref.rowMap ? ref.rowMap[h.row] : h.row;
      if (row >= 0 && row < ref.gallery.size) served.push(dot(queryReference, ref.gallery.vector(row)));
    }
    const own = (ownScores ?? referenceOwnScores(state, queryReference)!).slice(0, top.length);
    if (served.length > 0 && own.length > 0) out.reference = round(referenceSignal({ servedScores: served, ownScores: own, galleryMean: dot(queryReference, ref.mean) }));
  }
  if (state.words) {
    const w = wordsSignal(state.words, text, top.map((h) => h.row));
    out.words = w === null ? null : round(w);
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Calibration and the combined score.

/** The key of a subset of signals: their names in ALARM_SIGNALS order, joined by '+'. */
export function subsetKey(names: AlarmSignalName[]): string {
  return ALARM_SIGNALS.filter((n) => names.includes(n)).join('+');
}

/** What the threshold needs of a calibration: per-signal scales and a threshold per subset. */
export interface CalibrationCore {
  fpr: number;
  queries: number;
  scales: Partial<Record<AlarmSignalName, number>>;
  thresholds: Record<string, number>;
  /** Fraction of the calibration queries each threshold flags (≈ fpr, lower with ties). */
  flaggedRate: Record<string, number>;
  /** Each signal's calibration values, sorted (so anyone can recompute the rest). */
  values: Partial<Record<AlarmSignalName, number[]>>;
}

/** The q-quantile (0..1) of sorted values, by linear interpolation. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** What the combined score reads of a calibration: each signal's scale and sorted values. */
export type ScoreCalibration = Pick<CalibrationCore, 'scales' | 'values'>;

/**
 * A signal's tail rank under its calibration values (sorted): its mid-rank among them (the mean
 * of the fractions < v and ≤ v, so a signal that is constant on trusted queries ranks them at 0.5,
 * not 1), and past the largest one 1 + (v − largest) / scale, so that ranks keep ordering queries
 * beyond the sample.
 */
export function tailRank(v: number, sorted: number[], scale: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  if (v > sorted[n - 1]) return 1 + (v - sorted[n - 1]) / scale;
  return (countBelow(sorted, v, false) + countBelow(sorted, v, true)) / (2 * n);
}

/** How many sorted values are < v (or ≤ v with `orEqual`), by bisection. */
function countBelow(sorted: number[], v: number, orEqual: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < v || (orEqual && sorted[mid] === v)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The score of a set of signals under a calibration: the largest tail rank among the calibrated
 * signals present. Signals that are null or that the calibration has no scale for do not count.
 */
export function combinedScore(signals: AlarmSignals, cal: ScoreCalibration): { score: number | null; used: AlarmSignalName[] } {
  const used: AlarmSignalName[] = [];
  let best = -Infinity;
  for (const n of ALARM_SIGNALS) {
    const v = signals[n];
    const s = cal.scales[n];
    const sorted = cal.values[n];
    if (v === null || v === undefined || s === undefined || !sorted) continue;
    used.push(n);
    best = Math.max(best, tailRank(v, sorted, s));
  }
  return { score: used.length ? round(best) : null, used };
}

/** The part of a calibration that scores a subset of the signals (the others do not count). */
function subsetCalibration(cal: ScoreCalibration, names: AlarmSignalName[]): ScoreCalibration {
  const out: ScoreCalibration = { scales: {}, values: {} };
  for (const n of names) [out.scales[n], out.values[n]] = [cal.scales[n], cal.values[n]];
  return out;
}

/**
 * Calibrates on the signals of trusted queries: per-signal scales, then for every non-empty
 * subset of the calibrated signals the (1 − fpr) quantile of the subset's scores. A signal
 * missing from most of the sample (fewer than half the queries have it) is not calibrated.
 */
export function calibrate(samples: AlarmSignals[], fpr: number): CalibrationCore {
  if (!(fpr > 0 && fpr < 1)) throw new RangeError(`false-alarm rate must be in (0, 1), not ${fpr}`);
  const values: CalibrationCore['values'] = {};
  const scales: CalibrationCore['scales'] = {};
  for (const n of ALARM_SIGNALS) {
    const vs = samples.map((s) => s[n]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (vs.length === 0 || vs.length < samples.length / 2) continue;
    vs.sort((a, b) => a - b);
    values[n] = vs;
    scales[n] = round(Math.max(quantile(vs, SCALE_QUANTILE), SCALE_FLOOR[n]));
  }
  const names = ALARM_SIGNALS.filter((n) => scales[n] !== undefined);
  const thresholds: Record<string, number> = {};
  const flaggedRate: Record<string, number> = {};
  for (let mask = 1; mask < 1 << names.length; mask++) {
    const subset = names.filter((_, i) => mask & (1 << i));
    const sub = subsetCalibration({ scales, values }, subset);
    const scores = samples
      .map((s) => combinedScore(s, sub))
      .filter((c) => c.used.length === subset.length)
      .map((c) => c.score as number)
      .sort((a, b) => a - b);
    if (!scores.length) continue;
    const key = subsetKey(subset);
    const t = (thresholds[key] = round(quantile(scores, 1 - fpr)));
    flaggedRate[key] = Math.round((scores.filter((x) => x > t).length / scores.length) * 1e4) / 1e4;
  }
  return { fpr, queries: samples.length, scales, thresholds, flaggedRate, values };
}

export interface AlarmVerdict {
  score: number | null;
  flagged: boolean;
  threshold: number | null;
  /** The signals that made the score. */
  used: AlarmSignalName[];
  /** One line for a badge: why the query was flagged, or why it was not scored. */
  reason: string;
}

/** The verdict on one query's signals under a calibration (no calibration: not scored). */
export function judge(signals: AlarmSignals, cal: Pick<CalibrationCore, 'scales' | 'values' | 'thresholds'> | null): AlarmVerdict {
  if (!cal) return { score: null, flagged: false, threshold: null, used: [], reason: 'the alarm is not calibrated yet' };
  const { score, used } = combinedScore(signals, cal);
  const threshold = score === null ? null : (cal.thresholds[subsetKey(used)] ?? null);
  if (score === null || threshold === null) return { score, flagged: false, threshold, used, reason: 'no calibrated signal for this query' };
  const flagged = score > threshold;
  return { score, flagged, threshold, used, reason: flagged ? flagReason(signals, cal, used, threshold) : 'results look like what trusted models return' };
}

/** Names the signals that pass the threshold on their own (with the largest tail rank first). */
function flagReason(signals: AlarmSignals, cal: ScoreCalibration, used: AlarmSignalName[], threshold: number): string {
  const rank = (n: AlarmSignalName) => tailRank(signals[n] as number, cal.values[n]!, cal.scales[n]!);
  const parts = used
    .filter((n) => rank(n) > threshold)
    .sort((a, b) => rank(b) - rank(a))
    .map((n) =>
      n === 'reference'
        ? `the reference model finds these results ${Math.round(Math.min(1, signals.reference as number) * 100)}% of the way from its own best matches to a random image`
        : "the results' own captions share few of the query's words, unlike the gallery's best word matches",
    );
  return `results look hijacked: ${parts.join('; ')}`;
}
