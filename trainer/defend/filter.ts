import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../core/fsutil.js';
import { Rng } from '../../core/random.js';
import { checkName, type Workspace } from '../../core/workspace.js';
import { loadTrainset, trainsetDir, writeTrainset, type Trainset, type TrainsetCard, type TrainsetCardInput } from '../../data/trainset.js';
import { loadModelPackage, type ModelPackage } from '../../indexer/package.js';
import { linePlot } from '../experiment/svg.js';
import { quantile, r4, r6, registerTrainsetInCatalog, scorePairs, type PairScores } from './pairs.js';
import { DEFAULT_SAFE_PROBABILITY, gmmSplit, type GmmSplit } from './safeclip.js';

/**
 * The paper's pre-training defence (Yang et al. 2023, §6.1): embed every training pair with a
 * reference model that is not the victim, and drop the pairs whose image–caption cosine distance
 * is above γ. The filtered training set keeps everything else of its parent (attack records
 * included: the pairs that survive are still that attack's pairs), and a flag report beside it
 * holds every pair's distance, the pairs dropped, and — where the parent records its poisons —
 * precision, recall, the clean pairs lost, the ROC curve and the two distance densities.
 */

export const FILTER_REPORT = 'filter-report.json';

/** The study variant kinds that filter a poisoned training set before fine-tuning; each writes FILTER_REPORT. */
export const PAIR_DEFENCES = ['filter', 'safeclip', 'detect'] as const;
export type PairDefence = (typeof PAIR_DEFENCES)[number];
export const FILTER_REPORT_FORMAT = 'poisonlens-filter-report/1';

export interface FilterOptions {
  trainset: string;
  reference: string;
  /**
   * A threshold; 'auto' (calibrated on a seeded sample of clean pairs); or 'gmm' (the
   * SafeCLIP-style split, ./safeclip.ts: a two-Gaussian mixture on the similarities decides).
   */
  gamma: number | 'auto' | 'gmm';
  /** gmm: a pair is safe when the posterior of the high-similarity component is at least this (default 0.5). */
  safeProbability?: number;
  name: string;
  /** auto: the sample size (default 200 pairs). */
  calibrationSample?: number;
  /** auto: the quantile of the sample's distances taken as γ (default 0.99). */
  quantile?: number;
  /** auto: the sample's seed (default 0). */
  seed?: number;
  overwrite?: boolean;
  quiet?: boolean;
  register?: boolean;
  /** Extra fields for the new training set's card (the studies runner's inputs hash). */
  cardExtra?: Record<string, unknown>;
  /**
   * Another per-pair score in place of the reference's cosine distance (higher = more suspicious;
   * `defend detect`'s local-density scores), with the builder name and parameters to record.
   */
  scorer?: { builder: string; params: Record<string, unknown>; score: (parent: Trainset) => Promise<PairScores> };
}

export const DEFAULT_CALIBRATION_SAMPLE = 200;
export const DEFAULT_QUANTILE = 0.99;

export interface Calibration {
  method: 'quantile';
  quantile: number;
  sampleSize: number;
  seed: number;
  /** Where the sample was drawn from: the pairs the training set records as clean, or (no records) all pairs. */
  population: 'recorded-clean' | 'all-pairs';
  populationSize: number;
  sample: number[];
  gamma: number;
}

/** γ = the q-quantile of the distances of a seeded sample of clean pairs (the paper's suggestion: a small labelled clean sample). */
export function calibrateGamma(distance: ArrayLike<number>, poisoned: ReadonlySet<number> | null, o: { sample: number; quantile: number; seed: number }): Calibration {
  if (!(o.quantile > 0 && o.quantile <= 1)) throw new UserError(`--quantile must be in (0, 1], got ${o.quantile}`, 'bad_flags');
  const population: number[] = [];
  for (let i = 0; i < distance.length; i++) if (!poisoned || !poisoned.has(i)) population.push(i);
  if (population.length === 0) throw new UserError('no clean pairs to calibrate γ on', 'bad_flags');
  const n = Math.min(o.sample, population.length);
  const sample = new Rng(o.seed).shuffle(population).slice(0, n).sort((a, b) => a - b);
  const gamma = quantile(sample.map((i) => distance[i]), o.quantile);
  return { method: 'quantile', quantile: o.quantile, sampleSize: n, seed: o.seed, population: poisoned ? 'recorded-clean' : 'all-pairs', populationSize: population.length, sample, gamma };
}

export interface FilterMetrics {
  pairs: number;
  kept: number;
  dropped: number;
  poisoned: number | null;
  poisonedDropped: number | null;
  cleanDropped: number | null;
  /** Poisoned pairs among the dropped ones / dropped (null: nothing dropped or no poison records). */
  precision: number | null;
  /** Poisoned pairs dropped / poisoned pairs (null: no poisons recorded). */
  recall: number | null;
  /** Clean pairs dropped / clean pairs. */
  cleanLost: number | null;
}

/** Pairs with distance strictly above γ are dropped. */
export function filterDecisions(distance: ArrayLike<number>, gamma: number): number[] {
  const dropped: number[] = [];
  for (let i = 0; i < distance.length; i++) if (distance[i] > gamma) dropped.push(i);
  return dropped;
}

export function filterMetrics(total: number, dropped: readonly number[], poisoned: ReadonlySet<number> | null): FilterMetrics {
  const base = { pairs: total, kept: total - dropped.length, dropped: dropped.length };
  if (!poisoned) return { ...base, poisoned: null, poisonedDropped: null, cleanDropped: null, precision: null, recall: null, cleanLost: null };
  const tp = dropped.filter((i) => poisoned.has(i)).length;
  const fp = dropped.length - tp;
  const clean = total - poisoned.size;
  return {
    ...base,
    poisoned: poisoned.size,
    poisonedDropped: tp,
    cleanDropped: fp,
    precision: dropped.length ? tp / dropped.length : null,
    recall: poisoned.size ? tp / poisoned.size : null,
    cleanLost: clean ? fp / clean : null,
  };
}

export interface RocPoint {
  /** Threshold: pairs with distance > gamma are flagged. */
  gamma: number;
  tpr: number;
  fpr: number;
}

/** The ROC of "distance > γ flags a poison", one point per distinct distance (plus the (0,0) end), and its area. */
export function rocCurve(distance: ArrayLike<number>, poisoned: ReadonlySet<number>): { auc: number | null; points: RocPoint[] } {
  const P = poisoned.size;
  const N = distance.length - P;
  if (P === 0 || N === 0) return { auc: null, points: [] };
  const order = Array.from({ length: distance.length }, (_, i) => i).sort((a, b) => distance[b] - distance[a]);
  const points: RocPoint[] = [{ gamma: distance[order[0]], tpr: 0, fpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    if (poisoned.has(order[k])) tp++;
    else fp++;
    // Ties flag together: emit a point only after the last pair of a distance.
    if (k + 1 < order.length && distance[order[k + 1]] === distance[order[k]]) continue;
    const next = k + 1 < order.length ? distance[order[k + 1]] : -Infinity;
    points.push({ gamma: Number.isFinite(next) ? next : distance[order[k]] - 1e-9, tpr: tp / P, fpr: fp / N });
  }
  let auc = 0;
  for (let i = 1; i < points.length; i++) auc += ((points[i].fpr - points[i - 1].fpr) * (points[i].tpr + points[i - 1].tpr)) / 2;
  return { auc, points };
}

/** At most `max` points of a curve, evenly by index, ends kept. */
function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const out: T[] = [];
  for (let k = 0; k < max; k++) out.push(points[Math.round((k * (points.length - 1)) / (max - 1))]);
  return out;
}

export interface Densities {
  edges: number[];
  clean: number[];
  poisoned: number[];
}

/** Histogram densities (integrating to 1) of clean and poisoned distances over shared bins. */
export function distanceDensities(distance: ArrayLike<number>, poisoned: ReadonlySet<number>, bins = 24): Densities {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < distance.length; i++) {
    lo = Math.min(lo, distance[i]);
    hi = Math.max(hi, distance[i]);
  }
  if (!(hi > lo)) hi = lo + 1e-6;
  const w = (hi - lo) / bins;
  const clean = new Array<number>(bins).fill(0);
  const pois = new Array<number>(bins).fill(0);
  for (let i = 0; i < distance.length; i++) {
    const b = Math.min(bins - 1, Math.floor((distance[i] - lo) / w));
    (poisoned.has(i) ? pois : clean)[b]++;
  }
  const nc = distance.length - poisoned.size;
  const np = poisoned.size;
  return {
    edges: Array.from({ length: bins + 1 }, (_, k) => r6(lo + k * w)),
    clean: clean.map((c) => (nc ? r6(c / (nc * w)) : 0)),
    poisoned: pois.map((c) => (np ? r6(c / (np * w)) : 0)),
  };
}

/** The ROC as an SVG line plot (the studies' plot helper; x: false-positive rate on a 0.05 grid). */
export function rocSvg(points: RocPoint[], title: string, auc: number | null): string {
  const grid = Array.from({ length: 21 }, (_, k) => k / 20);
  const tprAt = (x: number) => points.reduce((best, p) => (p.fpr <= x + 1e-12 ? Math.max(best, p.tpr) : best), 0);
  return linePlot(
    grid.map((x) => x.toFixed(2)),
    [
      { name: `distance > γ${auc !== null ? ` (AUC ${auc.toFixed(3)})` : ''}`, points: grid.map((x) => ({ y: tprAt(x) })) },
      { name: 'chance', points: grid.map((x) => ({ y: x })), dash: '4 3' },
    ],
    { title, yLabel: 'poisoned pairs flagged (TPR)', xLabel: 'clean pairs flagged (FPR)', scale: { kind: 'linear', max: 1 } },
  );
}

/** The clean and poisoned distance densities (the paper's Figure 6) as an SVG line plot, γ marked in the title. */
export function densitySvg(d: Densities, title: string): string {
  const centres = d.edges.slice(0, -1).map((e, k) => ((e + d.edges[k + 1]) / 2).toFixed(2));
  return linePlot(centres, [
    { name: 'clean pairs', points: d.clean.map((y) => ({ y })) },
    { name: 'poisoned pairs', points: d.poisoned.map((y) => ({ y })) },
  ], { title, yLabel: 'density', xLabel: 'image–caption cosine distance (reference model)' });
}

export interface FilterResult {
  trainset: Trainset;
  reportPath: string;
  report: FilterReport;
}

export interface FilterReport {
  format: string;
  trainset: { name: string; parent: string; parentPairsSha256: string };
  reference: { id: string; kind: string; arch: string; trainset: string | null };
  gamma: number;
  gammaSource: { method: 'flag' } | Omit<Calibration, 'gamma'> | GmmSplit;
  metrics: FilterMetrics;
  roc: { auc: number | null; points: RocPoint[] } | null;
  densities: Densities | null;
  /** Pair ids (0-based lines of the parent's pairs.jsonl) dropped. */
  dropped: number[];
  /** Pair ids the parent records as poisoned. */
  poisonedPairIds: number[] | null;
  /** Cosine distance of every parent pair, in pairs.jsonl order. */
  distances: number[];
  embed: { images: number; captions: number; seconds: number };
  plots: { roc: string | null; densities: string | null };
  createdAt: string;
}

const CARD_KEYS = new Set(['name', 'dataset', 'builder', 'seed', 'counts', 'pairsSha256', 'poisonedPairIds', 'createdAt']);

/** `poisonlens defend filter`: score every pair, pick γ, drop the pairs above it and write the filtered set with its report. */
export async function filterTrainset(ws: Workspace, o: FilterOptions): Promise<FilterResult> {
  const { parent, ref } = loadFilterInputs(ws, o);
  const scores = o.scorer ? await o.scorer.score(parent) : await scorePairs(ws, parent, o.reference, { quiet: o.quiet });
  const d = scores.distance;
  // Poison records: the card's ids (and each pair's own flag, which must agree).
  const recorded = Array.isArray(parent.card.poisonedPairIds);
  const poisoned = recorded ? new Set(parent.card.poisonedPairIds) : null;

  const { gamma, gammaSource } = chooseGamma(o, scores, poisoned);
  const dropped = filterDecisions(d, gamma);
  const metrics = filterMetrics(d.length, dropped, poisoned);
  const dropSet = new Set(dropped);
  const kept = parent.pairs.filter((_, i) => !dropSet.has(i));
  if (kept.length === 0) throw new UserError(`γ ${gamma} drops every pair of ${o.trainset}: the filtered training set would be empty`, 'empty_trainset');

  const { report, roc, densities } = filterReport(o, parent, ref, scores, poisoned, { gamma, gammaSource, metrics, dropped });
  const t = await writeTrainset(ws, o.name, kept, filteredCard(o, parent, report), {
    files: (tmp) => {
      writeJsonAtomic(join(tmp, FILTER_REPORT), report);
      if (roc) writeFileAtomic(join(tmp, 'roc.svg'), rocSvg(roc.points, `Filter ROC: ${parent.name} under ${o.reference}`, roc.auc));
      if (densities) writeFileAtomic(join(tmp, 'densities.svg'), densitySvg(densities, `Distances (γ = ${gamma.toFixed(3)})`));
    },
  });
  if (o.register ?? true) registerTrainsetInCatalog(ws, t);
  return { trainset: t, reportPath: join(t.dir, FILTER_REPORT), report };
}

/**
 * Checks the flags and loads the training set and the reference model, refusing a reference
 * trained on this very training set (it has learnt the poison it should judge) and an existing
 * output without --overwrite.
 */
function loadFilterInputs(ws: Workspace, o: FilterOptions): { parent: Trainset; ref: ModelPackage } {
  checkName(o.name, 'training set name');
  if (o.name === o.trainset) throw new UserError('--name must differ from --trainset (the filtered set is a new training set)', 'bad_flags');
  if (o.gamma !== 'auto' && o.gamma !== 'gmm' && !Number.isFinite(o.gamma)) throw new UserError(`--gamma must be a number or auto, got ${o.gamma}`, 'bad_flags');
  const parent = loadTrainset(ws, o.trainset);
  const ref = loadModelPackage(ws, o.reference);
  // The reference must not be the victim: a model trained on this very training set has learnt its poison.
  if (ref.card.trainset?.sha256 && ref.card.trainset.sha256 === parent.card.pairsSha256) {
    throw new UserError(`reference model ${o.reference} was trained on ${o.trainset} itself (it has learnt the pairs it should judge); use a model trained separately on clean data`, 'bad_reference');
  }
  if (existsSync(trainsetDir(ws, o.name)) && !o.overwrite) {
    throw new UserError(`training set ${o.name} already exists (${trainsetDir(ws, o.name)}); pick another --name or pass --overwrite`, 'trainset_exists');
  }
  if (o.scorer && o.gamma === 'gmm') throw new UserError('the mixture split judges similarities, not another score', 'bad_flags');
  return { parent, ref };
}

/** γ and where it came from: calibrated on clean pairs (auto), the mixture split (gmm) or the flag's number. */
function chooseGamma(o: FilterOptions, scores: PairScores, poisoned: ReadonlySet<number> | null): { gamma: number; gammaSource: FilterReport['gammaSource'] } {
  if (o.gamma === 'auto') {
    const cal = calibrateGamma(scores.distance, poisoned, { sample: o.calibrationSample ?? DEFAULT_CALIBRATION_SAMPLE, quantile: o.quantile ?? DEFAULT_QUANTILE, seed: o.seed ?? 0 });
    const { gamma, ...rest } = cal;
    return { gamma, gammaSource: rest };
  }
  if (o.gamma === 'gmm') {
    const split = gmmSplit(scores.similarity, o.safeProbability ?? DEFAULT_SAFE_PROBABILITY);
    return { gamma: split.gamma, gammaSource: split };
  }
  return { gamma: o.gamma, gammaSource: { method: 'flag' } };
}

/**
 * filter-report.json's content; the ROC and the densities only where the parent records both
 * poisoned and clean pairs (with one kind alone there is nothing to separate).
 */
function filterReport(
  o: FilterOptions,
  parent: Trainset,
  ref: ModelPackage,
  scores: PairScores,
  poisoned: ReadonlySet<number> | null,
  decided: Pick<FilterReport, 'gamma' | 'gammaSource' | 'metrics' | 'dropped'>,
): { report: FilterReport; roc: ReturnType<typeof rocCurve> | null; densities: Densities | null } {
  const d = scores.distance;
  const hasBoth = poisoned !== null && poisoned.size > 0 && poisoned.size < d.length;
  const roc = hasBoth ? rocCurve(d, poisoned) : null;
  const densities = hasBoth ? distanceDensities(d, poisoned) : null;
  const report: FilterReport = {
    format: FILTER_REPORT_FORMAT,
    trainset: { name: o.name, parent: parent.name, parentPairsSha256: parent.card.pairsSha256 },
    reference: { id: ref.id, kind: ref.card.kind, arch: ref.card.arch, trainset: ref.card.trainset?.name ?? null },
    gamma: decided.gamma,
    gammaSource: decided.gammaSource,
    metrics: decided.metrics,
    roc: roc ? { auc: roc.auc, points: thin(roc.points, 400).map((p) => ({ gamma: r6(p.gamma), tpr: r6(p.tpr), fpr: r6(p.fpr) })) } : null,
    densities,
    dropped: decided.dropped,
    poisonedPairIds: poisoned ? [...poisoned].sort((a, b) => a - b) : null,
    distances: Array.from(d, r6),
    embed: { images: scores.images, captions: scores.captions, seconds: r4(scores.seconds) },
    plots: { roc: roc ? 'roc.svg' : null, densities: densities ? 'densities.svg' : null },
    createdAt: new Date().toISOString(),
  };
  return { report, roc, densities };
}

/**
 * The filtered training set's card: the parent's own fields kept (its attack records: the pairs
 * that survive are still that attack's pairs), the builder with its parameters, the parent, and
 * the filter's outcome in brief (the report has the rest).
 */
function filteredCard(o: FilterOptions, parent: Trainset, report: FilterReport): TrainsetCardInput {
  const { gamma, metrics } = report;
  const extras: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parent.card as TrainsetCard)) if (!CARD_KEYS.has(k) && k !== 'study' && k !== 'parent' && k !== 'filter') extras[k] = v;
  const params = {
    reference: o.reference,
    gamma,
    gammaMode: o.gamma === 'auto' ? 'auto' : o.gamma === 'gmm' ? 'gmm' : 'flag',
    ...(o.gamma === 'auto' ? { calibrationSample: o.calibrationSample ?? DEFAULT_CALIBRATION_SAMPLE, quantile: o.quantile ?? DEFAULT_QUANTILE, seed: o.seed ?? 0 } : {}),
    ...(o.gamma === 'gmm' ? { safeProbability: o.safeProbability ?? DEFAULT_SAFE_PROBABILITY } : {}),
    ...(o.scorer?.params ?? {}),
  };
  const builder = o.scorer?.builder ?? (o.gamma === 'gmm' ? 'safeclip-split' : 'filter');
  return {
    ...extras,
    dataset: parent.card.dataset,
    builder: { name: builder, params },
    seed: parent.card.seed,
    parent: { name: parent.name, pairsSha256: parent.card.pairsSha256, builder: parent.card.builder },
    filter: { report: FILTER_REPORT, method: builder, gamma, precision: metrics.precision, recall: metrics.recall, cleanLost: metrics.cleanLost, dropped: metrics.dropped, auc: report.roc?.auc ?? null, plots: report.plots },
    ...(o.cardExtra ?? {}),
  };
}
