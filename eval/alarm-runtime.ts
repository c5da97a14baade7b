/**
 * The poisoning alarm over real models (the maths is in alarm-maths.ts): which model is the reference,
 * which one is trusted, scoring a batch of queries, and the calibration
 * record in the workspace (`alarm/<reference>/<dataset>-<split>.json`). Used by the server
 * (per query) and by `poisonlens alarm calibrate|eval` (in batches), so both compute the same.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../core/fsutil.js';
import { Rng } from '../core/random.js';
import type { Workspace } from '../core/workspace.js';
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
// words signal replaced the captions signal.
export const CALIBRATION_FORMAT = 'poisonlens-alarm-calibration/3';
export const DEFAULT_CALIBRATION_QUERIES = 500;

/** A model card as far as the alarm reads provenance. */
export interface ModelFacts {
  id: string;
  kind?: string | null;
  parent?: string | null;
  createdAt?: string | null;
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

/**
 * The model the calibration trusts for a reference: the newest clean model whose base ancestor is
 * the reference (a clean fine-tune drifts from its base as much as any fine-tune does, without
 * poison); else the reference itself (then the reference signal cannot be calibrated).
 */
export function defaultTrusted(reference: string, models: Map<string, ModelFacts>): string {
  const clean = [...models.values()]
    .filter((m) => m.kind === 'clean' && m.id !== reference && baseAncestor(m.id, models) === reference)
    .sort((a, b) => String(b.createdAt ?? '').localeCompare(String(a.createdAt ?? '')) || (a.id < b.id ? -1 : 1));
  return clean[0]?.id ?? reference;
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
  trusted: { id: string; createdAt: string | null };
  dataset: { name: string; manifestSha256: string };
  split: string;
  k: number;
  /** `queries` as asked (part of the record's key); `used`: how many the gallery gave. */
  sample: { queries: number; used: number; seed: number; source: 'gallery captions' };
  /** Why a signal is not calibrated, when one is not. */
  notes: string[];
}

export interface CalibrationInputs {
  reference: ModelFacts;
  trusted: ModelFacts;
  dataset: { name: string; manifestSha256: string };
  split: string;
  k: number;
  fpr: number;
  queries: number;
  seed: number;
}

export function calibrationPath(ws: Workspace, reference: string, dataset: string, split: string): string {
  return join(ws.root, 'alarm', reference, `${dataset}-${split}.json`);
}

/** A recorded calibration, when it was made for exactly these inputs. */
export function readCalibration(ws: Workspace, want: CalibrationInputs): CalibrationRecord | null {
  const path = calibrationPath(ws, want.reference.id, want.dataset.name, want.split);
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
    rec.trusted?.id === want.trusted.id &&
    rec.trusted.createdAt === (want.trusted.createdAt ?? null) &&
    rec.dataset?.manifestSha256 === want.dataset.manifestSha256 &&
    rec.split === want.split &&
    rec.k === want.k &&
    rec.fpr === want.fpr &&
    rec.sample?.queries === want.queries &&
    rec.sample.seed === want.seed;
  return fits ? rec : null;
}

/**
 * Calibrates the alarm on the trusted model with the gallery's own captions as queries and
 * records it. `trusted` and `reference` may be the same model: then only the words signal is
 * calibrated.
 */
export async function runCalibration(
  ws: Workspace,
  want: CalibrationInputs,
  sides: { trusted: AlarmSide; reference: AlarmSide },
  entries: GalleryEntry[],
  onProgress?: (done: number, total: number) => void,
): Promise<CalibrationRecord> {
  const sameModel = sides.trusted.model === sides.reference.model;
  const state = prepareSides(sides.trusted, sameModel ? null : sides.reference, entries, want.k);
  const queries = calibrationQueries(entries, want.queries, want.seed);
  const samples = await scoreQueries(state, sides.trusted, sameModel ? null : sides.reference, queries, onProgress);
  const core = calibrate(samples, want.fpr);
  const notes: string[] = [];
  if (sameModel) notes.push(`the trusted model is the reference (${want.reference.id}): the reference signal is not calibrated; train a clean fine-tune of it or name another trusted model`);
  if (!state.words) notes.push('the gallery has no captions: the words signal is off');
  const rec: CalibrationRecord = {
    format: CALIBRATION_FORMAT,
    createdAt: new Date().toISOString(),
    reference: { id: want.reference.id, createdAt: want.reference.createdAt ?? null },
    trusted: { id: want.trusted.id, createdAt: want.trusted.createdAt ?? null },
    dataset: want.dataset,
    split: want.split,
    k: want.k,
    sample: { queries: want.queries, used: queries.length, seed: want.seed, source: 'gallery captions' },
    ...core,
    notes,
  };
  writeJsonAtomic(calibrationPath(ws, want.reference.id, want.dataset.name, want.split), rec);
  return rec;
}
