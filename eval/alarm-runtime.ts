/**
 * The poisoning alarm over real models (the maths is in alarm-maths.ts): which model is the reference,
 * which one is trusted, scoring a batch of queries, and the calibration
 * record in the workspace (`alarm/<reference>/<dataset>-<split>-<trusted set>.json`). Used by the server
 * (per query) and by `poisonlens alarm calibrate|eval` (in batches), so both compute the same.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../core/fsutil.js';
import { UserError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import type { Workspace } from '../core/workspace.js';
import type { ModelCard } from '../indexer/package.js';
import type { ClipEncoder } from '../indexer/types.js';
import {
  alarmSignals,
  calibrate,
  DEFAULT_ALARM_K,
  prepareAlarm,
  type AlarmGallery,
  type AlarmSignals,
  type AlarmState,
  type CalibrationCore,
} from './alarm-maths.js';

// /2: the combined score became the largest tail rank (was the mean of scaled signals); /3: the
// words signal replaced the captions signal; /4: several trusted models (a list).
export const CALIBRATION_FORMAT = 'poisonlens-alarm-calibration/4';
export const DEFAULT_CALIBRATION_QUERIES = 500;

/** A model card as far as the alarm reads provenance. */
export interface ModelFacts {
  id: string;
  kind?: string | null;
  parent?: string | null;
  createdAt?: string | null;
  /** What the model's drift from its base depends on, seed and poison aside (recipeOf). */
  recipe?: string | null;
}

/** The alarm's facts of a model card (the server and `alarm` read cards alike). */
export function factsOfCard(id: string, card: ModelCard): ModelFacts {
  return { id, kind: card.kind ?? null, parent: card.parent ?? null, createdAt: card.createdAt ?? null, recipe: recipeOf(card) };
}

/**
 * A fine-tune's recipe: the data it saw (dataset, pairs) and its optimiser's schedule (tower, lr,
 * batch, epochs or steps, frozen tower). Null without a trainer record (hand-made packages).
 */
export function recipeOf(card: ModelCard): string | null {
  const cfg = card.trainer?.config;
  if (!cfg) return null;
  return JSON.stringify([card.dataset?.name ?? null, card.trainset?.pairs ?? null, cfg.arch ?? null, cfg.lr ?? null, cfg.batch ?? null, cfg.epochs ?? null, cfg.steps ?? null, cfg.freeze ?? null]);
}

/**
 * The served model's base ancestor: follow `parent` to the first model of kind base, else to the
 * root of the chain (a parent that is not in the workspace ends the walk). A model with no parent
 * is its own reference.
 */
export function baseAncestor(id: string, models: Map<string, ModelFacts>): string {
  let cur = id;
  const seen = new Set<string>([id]);
  for (;;) {
    const m = models.get(cur);
    if (!m) return cur;
    if (m.kind === 'base' && cur !== id) return cur;
    const parent = typeof m.parent === 'string' && m.parent ? m.parent : null;
    if (!parent || seen.has(parent) || !models.has(parent)) return cur;
    seen.add(parent);
    cur = parent;
  }
}

/** The most clean models "auto" pools. */
export const MAX_AUTO_TRUSTED = 3;

/**
 * The models the calibration trusts by default for a served model: the clean models whose base
 * ancestor is the reference and whose recipe is the served model's (the newest three, pooled) —
 * how far a clean fine-tune drifts from its base depends on its recipe, and a threshold calibrated
 * on another recipe does not keep its false-alarm rate (README, "The poisoning alarm"); else the
 * newest clean model of the reference; else the reference itself (then the reference signal
 * cannot be calibrated). Sorted by id.
 */
export function defaultTrusted(reference: string, models: Map<string, ModelFacts>, served: string | null = null): string[] {
  const clean = [...models.values()]
    .filter((m) => m.kind === 'clean' && m.id !== reference && baseAncestor(m.id, models) === reference)
    .sort((a, b) => String(b.createdAt ?? '').localeCompare(String(a.createdAt ?? '')) || (a.id < b.id ? -1 : 1));
  const recipe = served ? models.get(served)?.recipe : null;
  const alike = recipe ? clean.filter((m) => m.recipe === recipe).slice(0, MAX_AUTO_TRUSTED) : [];
  if (alike.length > 0) return alike.map((m) => m.id).sort();
  return [clean[0]?.id ?? reference];
}

/**
 * The trusted models of a calibration for a served model from a setting: "auto" (defaultTrusted), or one model id or
 * several, comma-separated — pooled: the same caption sample is scored on each, so that the
 * threshold spans how far clean fine-tunes of several recipes drift, not one model's drift alone.
 * Distinct and sorted (the record's key). The reference may be the trusted model only alone.
 */
export function trustedModels(setting: string, reference: string, models: Map<string, ModelFacts>, served: string | null = null): string[] {
  if (setting === 'auto') return defaultTrusted(reference, models, served);
  const ids = [...new Set(setting.split(',').map((x) => x.trim()).filter(Boolean))].sort();
  if (ids.length === 0) throw new UserError(`the trusted setting "${setting}" names no model`, 'bad_flags');
  if (ids.length > 1 && ids.includes(reference)) throw new UserError(`the reference ${reference} cannot be one of several trusted models: its own reference signal is 0 by construction`, 'bad_flags');
  for (const id of ids) if (!models.has(id)) throw new UserError(`trusted model ${id} is not in the workspace`, 'model_not_found');
  return ids;
}

/** One side of the alarm: a model's text encoder and its gallery index over the dataset split. */
export interface AlarmSide {
  model: string;
  encoder: Pick<ClipEncoder, 'encodeTexts' | 'dim'>;
  gallery: AlarmGallery;
}

/** A gallery image as the alarm reads it: its id and captions. */
export interface GalleryEntry {
  id: string;
  captions: string[];
}

/** Prepares the alarm of `served` over a gallery (reference null: no reference signal). */
export function prepareSides(served: AlarmSide, reference: AlarmSide | null, entries: GalleryEntry[], k = DEFAULT_ALARM_K): AlarmState {
  const byId = new Map(entries.map((e) => [e.id, e] as const));
  return prepareAlarm({
    served: { ids: served.gallery.ids },
    reference: reference && reference.model !== served.model ? { model: reference.model, gallery: reference.gallery } : null,
    captionsOf: (id) => byId.get(id)?.captions ?? [],
    k,
  });
}

/**
 * The signals of many queries at once: both encoders in batches of 64, the served gallery's
 * top-k per query. What the server computes one query at a time, in bulk.
 */
export async function scoreQueries(state: AlarmState, served: AlarmSide, reference: AlarmSide | null, queries: string[], onProgress?: (done: number, total: number) => void): Promise<AlarmSignals[]> {
  const out: AlarmSignals[] = [];
  const useRef = state.reference !== null && reference !== null;
  for (let i = 0; i < queries.length; i += 64) {
    const batch = queries.slice(i, i + 64);
    const qs = await served.encoder.encodeTexts(batch);
    const qr = useRef ? await reference!.encoder.encodeTexts(batch) : null;
    for (let j = 0; j < batch.length; j++) {
      const hits = served.gallery.search(qs[j], Math.min(state.k, served.gallery.size));
      out.push(alarmSignals(state, hits, qr ? qr[j] : null, batch[j]));
    }
    onProgress?.(Math.min(i + 64, queries.length), queries.length);
  }
  return out;
}

/** A seeded sample of the gallery's own captions (every caption of every image is a candidate). */
export function calibrationQueries(entries: GalleryEntry[], n: number, seed = 0): string[] {
  const all: string[] = [];
  const sorted = entries.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const e of sorted) for (const c of e.captions) all.push(c);
  if (all.length <= n) return all;
  return new Rng(seed).shuffle(all).slice(0, n);
}

export interface CalibrationRecord extends CalibrationCore {
  format: typeof CALIBRATION_FORMAT;
  createdAt: string;
  reference: { id: string; createdAt: string | null };
  /** The trusted models (one, or several pooled), sorted by id. */
  trusted: Array<{ id: string; createdAt: string | null }>;
  dataset: { name: string; manifestSha256: string };
  split: string;
  k: number;
  /** `queries` as asked (part of the record's key); `used`: how many the gallery gave (each trusted model answers all of them). */
  sample: { queries: number; used: number; seed: number; source: 'gallery captions' };
  /** Why a signal is not calibrated, when one is not. */
  notes: string[];
}

export interface CalibrationInputs {
  reference: ModelFacts;
  /** Sorted by id (trustedModels). */
  trusted: ModelFacts[];
  dataset: { name: string; manifestSha256: string };
  split: string;
  k: number;
  fpr: number;
  queries: number;
  seed: number;
}

/** The record of a calibration: one per reference, gallery and set of trusted models. */
export function calibrationPath(ws: Workspace, reference: string, dataset: string, split: string, trusted: string[]): string {
  const set = createHash('sha256').update(trusted.join(',')).digest('hex').slice(0, 8);
  return join(ws.root, 'alarm', reference, `${dataset}-${split}-${set}.json`);
}

/** A recorded calibration, when it was made for exactly these inputs. */
export function readCalibration(ws: Workspace, want: CalibrationInputs): CalibrationRecord | null {
  const path = calibrationPath(ws, want.reference.id, want.dataset.name, want.split, want.trusted.map((t) => t.id));
  if (!existsSync(path)) return null;
  let rec: CalibrationRecord;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8')) as CalibrationRecord;
  } catch {
    return null; // unreadable: calibrate again
  }
  const fits =
    rec.format === CALIBRATION_FORMAT &&
    rec.reference?.id === want.reference.id &&
    rec.reference.createdAt === (want.reference.createdAt ?? null) &&
    Array.isArray(rec.trusted) &&
    rec.trusted.length === want.trusted.length &&
    want.trusted.every((t, i) => rec.trusted[i].id === t.id && rec.trusted[i].createdAt === (t.createdAt ?? null)) &&
    rec.dataset?.manifestSha256 === want.dataset.manifestSha256 &&
    rec.split === want.split &&
    rec.k === want.k &&
    rec.fpr === want.fpr &&
    rec.sample?.queries === want.queries &&
    rec.sample.seed === want.seed;
  return fits ? rec : null;
}

/**
 * Calibrates the alarm on the trusted models (the sides in `want.trusted`'s order) with the
 * gallery's own captions as queries and records it: every trusted model answers the same sample,
 * and the thresholds come from all their answers pooled. A single trusted model may be the
 * reference: then only the words signal is calibrated.
 */
export async function runCalibration(
  ws: Workspace,
  want: CalibrationInputs,
  sides: { trusted: AlarmSide[]; reference: AlarmSide },
  entries: GalleryEntry[],
  onProgress?: (done: number, total: number) => void,
): Promise<CalibrationRecord> {
  const queries = calibrationQueries(entries, want.queries, want.seed);
  const samples: AlarmSignals[] = [];
  let words = true;
  for (const trusted of sides.trusted) {
    const ref = trusted.model === sides.reference.model ? null : sides.reference;
    const state = prepareSides(trusted, ref, entries, want.k);
    words &&= state.words !== null;
    samples.push(...(await scoreQueries(state, trusted, ref, queries, onProgress)));
  }
  const core = calibrate(samples, want.fpr);
  const notes: string[] = [];
  if (sides.trusted.some((t) => t.model === sides.reference.model)) notes.push(`the trusted model is the reference (${want.reference.id}): the reference signal is not calibrated; train a clean fine-tune of it or name another trusted model`);
  if (!words) notes.push('the gallery has no captions: the words signal is off');
  const rec: CalibrationRecord = {
    format: CALIBRATION_FORMAT,
    createdAt: new Date().toISOString(),
    reference: { id: want.reference.id, createdAt: want.reference.createdAt ?? null },
    trusted: want.trusted.map((t) => ({ id: t.id, createdAt: t.createdAt ?? null })),
    dataset: want.dataset,
    split: want.split,
    k: want.k,
    sample: { queries: want.queries, used: queries.length, seed: want.seed, source: 'gallery captions' },
    ...core,
    notes,
  };
  writeJsonAtomic(calibrationPath(ws, want.reference.id, want.dataset.name, want.split, want.trusted.map((t) => t.id)), rec);
  return rec;
}
