import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../core/workspace.js';
import { readTrainsetCard } from '../data/trainset.js';
import { loadModelCard, tryReadModelCard, type ModelCard } from '../indexer/package.js';

/**
 * The default clean model of an evaluation (ARCHITECTURE.md §5, encoder drift): the clean
 * fine-tune of the same pool — a model of kind clean with the same parent, trained on a training
 * set drawn from the same dataset manifest and the same pool — so that drift and the "clean" row
 * measure the poison and not the fine-tuning. Among several, one with the same recipe and seed
 * is preferred. Without one (or when asked for the ancestor), the nearest clean or base ancestor.
 */

/** How an evaluation names its clean model (part of ./evaluate.ts's request). */
export interface CleanModelRequest {
  /** A clean model id; undefined: found as `cleanDefault` says; null: none. */
  cleanModel?: string | null;
  /**
   * How to find the clean model when none is given: `same-pool` the clean fine-tune of the same
   * pool (`samePoolClean` below), else the nearest clean/base ancestor (what `eval` and the API
   * ask for); `ancestor` (default, what studies without a clean variant get) the ancestor only.
   */
  cleanDefault?: 'same-pool' | 'ancestor';
}

/** `how`: flag (given), same-pool (the clean fine-tune of the same pool), parent (the nearest clean/base ancestor); null: none. */
export type CleanModelChoice = { id: string; how: 'flag' | 'same-pool' | 'parent'; why?: string } | null;

/** Trainer settings that make two fine-tunes the same recipe (model.json `trainer.config`). */
const RECIPE_FIELDS = ['recipe', 'lr', 'batch', 'epochs', 'steps', 'weightDecay', 'minLr', 'warmupSteps'] as const;

interface TrainsetView {
  dataset?: { manifestSha256?: string };
  builder?: { params?: Record<string, unknown> };
  parent?: { builder?: { params?: Record<string, unknown> } };
  pool?: { spec?: Record<string, unknown> };
}

/** JSON with object keys sorted, so that equal specs give equal strings. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * What identifies the pool a training set was drawn from: the dataset manifest and the pool spec
 * (trainset.json `pool.spec`; older sets: builder params `images`/`subsetSeed`). A filtered set
 * reads its parent's builder. Null: not a fine-tuning pool of the train split (e.g. the base part).
 */
export function poolKey(ws: Workspace, trainset: string): string | null {
  const t = readTrainsetCard(ws, trainset) as TrainsetView | null;
  const manifest = t?.dataset?.manifestSha256;
  if (!t || !manifest) return null;
  const params = t.parent?.builder?.params ?? t.builder?.params ?? {};
  if ((params.split ?? 'train') !== 'train' || params.part !== undefined) return null;
  const spec = t.pool?.spec ?? { images: params.images ?? null, seed: params.subsetSeed ?? 0, profile: null, classImages: null };
  const classSpec = (spec.profile ?? null) !== null || (spec.classImages ?? null) !== null || (spec.captionsPerImage ?? null) !== null;
  // The whole reservoir, taken in order: the seed draws nothing.
  const seed = (spec.images ?? null) === null && !classSpec ? null : (spec.seed ?? 0);
  return canonical({ manifest, images: spec.images ?? null, seed, profile: spec.profile ?? null, classImages: spec.classImages ?? null, captionsPerImage: spec.captionsPerImage ?? null });
}

function modelCards(ws: Workspace): ModelCard[] {
  if (!existsSync(ws.models)) return [];
  return readdirSync(ws.models, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => tryReadModelCard(join(ws.models, d.name)))
    .filter((c): c is ModelCard => c !== null && typeof c.id === 'string');
}

/** The recipe settings in which `c` differs from `model` ("lr 1e-05 ≠ 0.0002"). */
function recipeDifferences(model: ModelCard, c: ModelCard): string[] {
  const a = model.trainer?.config ?? {};
  const b = c.trainer?.config ?? {};
  return RECIPE_FIELDS.filter((f) => canonical(a[f]) !== canonical(b[f])).map((f) => `${f} ${canonical(b[f])} ≠ ${canonical(a[f])}`);
}

const seedOf = (c: ModelCard) => c.seed ?? (c.trainer?.config?.seed as number | undefined) ?? null;

/**
 * The clean fine-tune of the same pool as `model`, with why it was chosen; null when the model
 * is itself clean or a base, has no parent or training set, or no such clean model exists.
 */
export function samePoolClean(ws: Workspace, model: ModelCard): { id: string; why: string } | null {
  if (model.kind === 'clean' || model.kind === 'base' || !model.parent || !model.trainset?.name) return null;
  const key = poolKey(ws, model.trainset.name);
  if (key === null) return null;
  const ranked = modelCards(ws)
    .filter((c) => c.kind === 'clean' && c.id !== model.id && c.parent === model.parent && c.trainset?.name && poolKey(ws, c.trainset.name) === key)
    .map((c) => ({ c, diff: recipeDifferences(model, c), sameSeed: seedOf(c) === seedOf(model) }))
    // Same recipe first, then same seed, then by id (a stable choice).
    .sort((x, y) => Number(x.diff.length > 0) - Number(y.diff.length > 0) || Number(y.sameSeed) - Number(x.sameSeed) || (x.c.id < y.c.id ? -1 : x.c.id > y.c.id ? 1 : 0));
  if (ranked.length === 0) return null;
  const { c, diff, sameSeed } = ranked[0];
  const recipe = diff.length ? `other recipe (${diff.join(', ')})` : 'same recipe';
  const seed = sameSeed ? 'same seed' : `seed ${seedOf(c)}, not ${seedOf(model)}`;
  return { id: c.id, why: `clean fine-tune of the same pool; ${recipe}; ${seed}` };
}

/** The nearest ancestor of kind clean or base (the model itself excluded). */
export function findCleanAncestor(ws: Workspace, card: ModelCard): string | null {
  const seen = new Set([card.id]);
  let parent = card.parent ?? null;
  while (parent && !seen.has(parent)) {
    seen.add(parent);
    let c: ModelCard;
    try {
      c = loadModelCard(ws, parent);
    } catch {
      return null;
    }
    if (c.kind === 'clean' || c.kind === 'base') return c.id;
    parent = c.parent ?? null;
  }
  return null;
}

/** The clean model of an evaluation: the flag's, else as `req.cleanDefault` says (null: none). */
export function chooseCleanModel(ws: Workspace, card: ModelCard, req: CleanModelRequest): CleanModelChoice {
  if (req.cleanModel) {
    loadModelCard(ws, req.cleanModel);
    return { id: req.cleanModel, how: 'flag', why: 'given' };
  }
  if (req.cleanModel === null) return null;
  const same = req.cleanDefault === 'same-pool' ? samePoolClean(ws, card) : null;
  if (same) return { id: same.id, how: 'same-pool', why: same.why };
  const id = findCleanAncestor(ws, card);
  if (!id) return null;
  const kind = loadModelCard(ws, id).kind;
  const why = req.cleanDefault === 'same-pool' ? `ancestor: ${kind}; no clean fine-tune of the same pool` : `ancestor: ${kind}`;
  return { id, how: 'parent', why };
}
