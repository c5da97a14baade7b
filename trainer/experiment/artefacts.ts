import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCatalog } from '../../core/catalog.js';
import { UserError } from '../../core/errors.js';
import { sha256, writeJsonAtomic } from '../../core/fsutil.js';
import { Progress } from '../../core/progress.js';
import type { Workspace } from '../../core/workspace.js';
import type { Dataset, ManifestEntry } from '../../data/dataset.js';
import { basePart, poolFacts, samplePool, type PoolSpec } from '../../data/pool.js';
import { buildPoisonedTrainset as buildPoisonSet } from '../../data/poison/poison.js';
import { readTrainsetCard, registerTrainset, writeTrainset, type TrainPair, type TrainsetCard } from '../../data/trainset.js';
import type { EvalProgress } from '../../eval/backend.js';
import { evaluate, type EvalAttack, type EvalResult } from '../../eval/evaluate.js';
import { indexerEvalBackend } from '../../eval/indexer-backend.js';
import { modelDir, tryReadModelCard, type ModelCard, type ModelKind } from '../../indexer/package.js';
import { ENGINE_DIR } from '../setup.js';
import { trainModel } from '../train.js';
import type { EngineEvent } from '../engine.js';
import type { EvalSettings, TrainSettings } from './spec.js';
import type { PoisonSpec } from './study-variants.js';

/**
 * The artefacts a study builds, each under its content-addressed name, and the checks that an
 * existing artefact of that name really is the one its inputs describe (its recorded hashes).
 */

export interface StepState {
  done: boolean;
  /** Why it is (re)built: missing, or what did not match. */
  why?: string;
}

// ------------------------------------------------------------------------------ recipes

/** The engine's recipe file (by name) and its content hash: a changed recipe is a new input. */
export function recipeInfo(name: string): { name: string; sha256: string; recipe: Record<string, unknown> } {
  const path = join(ENGINE_DIR, 'poisonlens_engine', 'recipes', `${name}.json`);
  if (!existsSync(path)) throw new UserError(`unknown training recipe ${JSON.stringify(name)} (no ${path})`, 'unknown_recipe');
  const text = readFileSync(path, 'utf8');
  return { name, sha256: sha256(text), recipe: JSON.parse(text) as Record<string, unknown> };
}

/** The open_clip model config registered by the engine for `arch`, hashed (null when not ours). */
export function archInfo(arch: string): { arch: string; sha256: string | null } {
  const path = join(ENGINE_DIR, 'poisonlens_engine', 'model_configs', `${arch}.json`);
  return { arch, sha256: existsSync(path) ? sha256(readFileSync(path)) : null };
}

// ------------------------------------------------------------------------------ training sets

/** The pool spec of fine-tuning settings (data/pool.ts). */
export function poolSpecOf(s: PoolSettings): PoolSpec {
  return { images: s.images, seed: s.subsetSeed, profile: s.profile ?? null, classImages: s.classImages ?? null, captionsPerImage: s.captionsPerImage ?? null };
}

/** The fine-tuning pool (data/pool.ts): the same sample `poisonlens trainset --pool-images` draws. */
export function poolOf(dataset: Dataset, s: PoolSettings): ManifestEntry[] {
  return samplePool(dataset, poolSpecOf(s));
}

export type PoolSettings = Pick<TrainSettings, 'images' | 'subsetSeed' | 'profile' | 'classImages'> & Partial<Pick<TrainSettings, 'captionsPerImage'>>;

/** The base model's clean training set: the train images reserved for it (data/pool.ts). */
export async function buildBaseTrainset(ws: Workspace, dataset: Dataset, name: string, hash: string): Promise<void> {
  const part = basePart(dataset);
  const pairs: TrainPair[] = part.flatMap((e) => e.captions.map((caption) => ({ image: e.file, caption, imageId: e.id, poisoned: false, attack: null })));
  const t = await writeTrainset(ws, name, pairs, {
    dataset: { name: dataset.name, manifestSha256: dataset.card.manifestSha256, dir: dataset.dir },
    builder: { name: 'clean', params: { split: 'train', part: 'base', images: part.length } },
    seed: null,
    study: { inputsHash: hash },
  });
  register(ws, t);
}

export function trainsetCard(ws: Workspace, name: string): TrainsetCard {
  const c = readTrainsetCard(ws, name);
  if (!c) throw new Error(`training set ${name} is missing`);
  return c;
}

export function trainsetState(ws: Workspace, name: string, hash: string): StepState {
  const c = readTrainsetCard(ws, name);
  if (!c) return { done: false, why: 'missing' };
  const rec = (c.study as { inputsHash?: string } | undefined)?.inputsHash;
  if (rec !== hash) return { done: false, why: `recorded inputs hash ${rec?.slice(0, 12) ?? 'none'} ≠ ${hash.slice(0, 12)}` };
  return { done: true };
}

function register(ws: Workspace, t: Parameters<typeof registerTrainset>[1]): void {
  const db = openCatalog(ws.catalogPath);
  try {
    registerTrainset(db, t);
  } finally {
    db.close();
  }
}

export async function buildCleanTrainset(ws: Workspace, dataset: Dataset, s: PoolSettings, name: string, hash: string): Promise<void> {
  const pool = poolOf(dataset, s);
  const pairs: TrainPair[] = pool.flatMap((e) => e.captions.map((caption) => ({ image: e.file, caption, imageId: e.id, poisoned: false, attack: null })));
  const t = await writeTrainset(ws, name, pairs, {
    dataset: { name: dataset.name, manifestSha256: dataset.card.manifestSha256, dir: dataset.dir },
    builder: { name: 'clean', params: { split: 'train', images: s.images, subsetSeed: s.subsetSeed, poolImages: pool.length } },
    seed: null,
    pool: poolFacts(dataset, poolSpecOf(s), pool),
    study: { inputsHash: hash },
  });
  register(ws, t);
}

/** Applies an attack to the pool: `poisonlens poison`'s builder, with the study's inputs hash recorded. */
export async function buildPoisonedTrainset(
  ws: Workspace,
  dataset: Dataset,
  s: PoolSettings,
  p: PoisonSpec,
  seed: number,
  name: string,
  hash: string,
  quiet = false,
): Promise<void> {
  await buildPoisonSet(ws, {
    dataset: dataset.name,
    attack: p.attack,
    goal: p.goal,
    budget: p.budget,
    keepClean: p.keepClean,
    seed,
    targetImage: p.targetImage,
    pool: poolSpecOf(s),
    name,
    quiet,
    extra: { study: { inputsHash: hash } },
  });
}

// ------------------------------------------------------------------------------ models

/** A model to train: the study's fine-tuning settings (one declaration, TrainSettings) for one model. */
export interface ModelJob extends Pick<TrainSettings, 'recipe' | 'epochs' | 'steps' | 'lr' | 'batch' | 'freeze'> {
  id: string;
  kind: ModelKind;
  trainset: string;
  /** Fine-tune from this model id; null: from scratch (base). */
  from: string | null;
  arch: string | null;
  seed: number;
  valImages: number | null;
  defence?: Record<string, unknown>;
  /** Also package the weights at each epoch's end (`<id>-eNN`), for an epoch curve from one run. */
  saveEpochs?: boolean;
}

/** The card (model.json) of model `id`, or null when it has no package or an unreadable card. */
export function readCard(ws: Workspace, id: string): ModelCard | null {
  return tryReadModelCard(modelDir(ws, id));
}

/** Whether the package `job.id` exists and records the job's inputs (trainset hash, parent, seed, settings). */
export function modelState(ws: Workspace, job: ModelJob): StepState {
  const dir = modelDir(ws, job.id);
  const c = readCard(ws, job.id);
  if (!c) return { done: false, why: 'missing' };
  for (const f of ['image.onnx', 'text.onnx', 'checkpoint.pt']) if (!existsSync(join(dir, f))) return { done: false, why: `${f} missing` };
  const ts = readTrainsetCard(ws, job.trainset);
  if (!ts) return { done: false, why: `its training set ${job.trainset} is missing` };
  if (c.trainset?.name !== job.trainset || c.trainset?.sha256 !== ts.pairsSha256) return { done: false, why: 'trained on another training set (pairs sha256 differs)' };
  if ((c.parent ?? null) !== job.from) return { done: false, why: `parent ${c.parent} ≠ ${job.from}` };
  if ((c.seed ?? null) !== job.seed) return { done: false, why: `seed ${c.seed} ≠ ${job.seed}` };
  const cfg = c.trainer?.config ?? {};
  if (job.lr !== null && cfg.lr !== job.lr) return { done: false, why: `lr ${cfg.lr} ≠ ${job.lr}` };
  if (job.batch !== null && cfg.batch !== job.batch) return { done: false, why: `batch ${cfg.batch} ≠ ${job.batch}` };
  if (job.epochs !== null && cfg.epochs !== job.epochs) return { done: false, why: `epochs ${cfg.epochs} ≠ ${job.epochs}` };
  if (job.steps !== null && cfg.steps !== job.steps) return { done: false, why: `steps ${cfg.steps} ≠ ${job.steps}` };
  if ((cfg.freeze ?? null) !== job.freeze) return { done: false, why: `freeze ${cfg.freeze} ≠ ${job.freeze}` };
  return { done: true };
}

export async function buildModel(ws: Workspace, job: ModelJob, opts: { quiet?: boolean; threads?: number; onEvent?: (e: EngineEvent) => void } = {}): Promise<void> {
  await trainModel(ws, {
    trainset: job.trainset,
    name: job.id,
    ...(job.from ? { from: job.from } : {}),
    ...(job.arch ? { arch: job.arch } : {}),
    recipe: job.recipe,
    ...(job.epochs !== null ? { epochs: job.epochs } : {}),
    ...(job.steps !== null ? { steps: job.steps } : {}),
    ...(job.lr !== null ? { lr: job.lr } : {}),
    ...(job.batch !== null ? { batch: job.batch } : {}),
    ...(job.freeze ? { freeze: job.freeze } : {}),
    ...(job.valImages !== null ? { valImages: job.valImages } : {}),
    ...(job.defence ? { defence: job.defence } : {}),
    ...(job.saveEpochs ? { saveEpochs: true } : {}),
    seed: job.seed,
    kind: job.kind,
    ...(opts.threads ? { threads: opts.threads } : {}),
    overwrite: existsSync(modelDir(ws, job.id)),
    quiet: opts.quiet,
    onEvent: opts.onEvent,
  });
}

// ------------------------------------------------------------------------------ evaluations

export interface EvalJob {
  id: string;
  model: string;
  dataset: string;
  attack: EvalAttack;
  goal: string;
  /** Attack I: read the target image from this training set's attack facts. */
  targetFrom: string | null;
  /** A clean model id (undefined: the model's clean ancestor). */
  cleanModel: string | undefined;
  settings: EvalSettings;
  utility: boolean;
}

export interface StoredEval {
  format: 'poisonlens-study-eval/1';
  id: string;
  inputsHash: string;
  modelCreatedAt: string | null;
  cleanCreatedAt: string | null;
  result: EvalResult;
}

export function evalPath(ws: Workspace, id: string): string {
  return join(ws.cache, 'evals', `${id}.json`);
}

export function readEval(ws: Workspace, id: string): StoredEval | null {
  const p = evalPath(ws, id);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as StoredEval;
  } catch {
    return null;
  }
}

export function evalState(ws: Workspace, job: EvalJob, hash: string): StepState {
  const e = readEval(ws, job.id);
  if (!e) return { done: false, why: 'missing' };
  if (e.inputsHash !== hash) return { done: false, why: 'inputs changed' };
  if (e.modelCreatedAt !== (readCard(ws, job.model)?.createdAt ?? null)) return { done: false, why: `model ${job.model} was rebuilt since` };
  const clean = e.result.cleanModel?.id;
  if (clean && e.cleanCreatedAt !== (readCard(ws, clean)?.createdAt ?? null)) return { done: false, why: `clean model ${clean} was rebuilt since` };
  return { done: true };
}

export async function runEval(ws: Workspace, job: EvalJob, hash: string, onProgress?: (p: EvalProgress) => void): Promise<StoredEval> {
  let targetImage: string | undefined;
  if (job.attack === 'I' && job.targetFrom) {
    const a = trainsetCard(ws, job.targetFrom).attack as { targetImage?: string } | undefined;
    targetImage = a?.targetImage;
  }
  const s = job.settings;
  const result = await evaluate(
    ws,
    {
      model: job.model,
      dataset: job.dataset,
      attack: job.attack,
      goal: job.goal,
      ...(targetImage ? { targetImage } : {}),
      mode: s.mode,
      cleanModel: job.cleanModel,
      ks: s.ks,
      seed: s.seed,
      split: s.split,
      utility: job.utility && s.utility,
      drift: s.drift,
      ...(s.queryRepeat !== undefined ? { queryRepeat: s.queryRepeat } : {}),
    },
    { backend: indexerEvalBackend(ws), onProgress },
  );
  const stored: StoredEval = {
    format: 'poisonlens-study-eval/1',
    id: job.id,
    inputsHash: hash,
    modelCreatedAt: readCard(ws, job.model)?.createdAt ?? null,
    cleanCreatedAt: result.cleanModel ? (readCard(ws, result.cleanModel.id)?.createdAt ?? null) : null,
    result,
  };
  writeJsonAtomic(evalPath(ws, job.id), stored);
  return stored;
}
