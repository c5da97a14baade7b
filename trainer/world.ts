import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../core/fsutil.js';
import { worldStatusPath, type Workspace } from '../core/workspace.js';
import { datasetDir } from '../data/dataset.js';
import { trainsetDir } from '../data/trainset.js';
import { generateScenes, SCENES_DEFAULTS, defaultSplits, defaultWorkers, type Balance } from '../data/scenes/generate.js';
import { buildPoisonedTrainset } from '../data/poison/poisoned-trainset.js';
import type { PoolSpec } from '../data/pool.js';
import { modelDir } from '../indexer/package.js';
import { ensureIndex, indexDir } from '../indexer/index-build.js';
import { buildCleanTrainset } from './clean-trainset.js';
import { trainModel } from './train.js';
import { sterilizeModel } from './defend/sterilize.js';
import type { EngineEvent } from './engine.js';

/** The default world's recipe (trainer/world.json): what `poisonlens up` builds when missing. */
export interface WorldSpec {
  /** `baseImages`: train images reserved for the base; the fine-tuning pool comes from the rest (data/pool.ts). */
  dataset: { name: string; count: number; size: number; seed: number; baseImages?: number };
  trainset: { name: string; split: 'train' };
  base: { name: string; recipe: string; seed: number; steps?: number };
  /** Fine-tunes run on `trainset`: a seeded sample of `images` train images (as the studies do), or the whole split when absent. */
  finetune: {
    epochs: number;
    lr: number;
    seed: number;
    steps?: number;
    trainset?: string;
    images?: number;
    subsetSeed?: number;
    /** The pool's class frequencies (data/pool.ts). */
    profile?: string;
    classImages?: Record<string, number>;
  };
  clean: { name: string };
  poisoned: { name: string; trainset: string; attack: string; goal: string; poisonImages: number; seed: number };
  defended: { name: string; steps: number; lr: number; seed: number };
}

/** POISONLENS_WORLD names another world file (a smaller world for a quick look, or a custom one). */
export function loadWorldSpec(path = process.env.POISONLENS_WORLD ?? new URL('./world.json', import.meta.url).pathname): WorldSpec {
  return JSON.parse(readFileSync(path, 'utf8')) as WorldSpec;
}

/** The build status the search page shows while the world is being built. */
export interface WorldStatus {
  state: 'running' | 'done' | 'failed';
  steps: Array<{ name: string; title: string; state: 'pending' | 'running' | 'done' | 'skipped' | 'failed'; progress?: number; detail?: string }>;
  error?: string;
  updatedAt: string;
}

/** Where the status is written: core/workspace.ts (the server reads it too); re-exported here. */
export { worldStatusPath };

interface Step {
  name: string;
  title: string;
  /** Already built (so the step is skipped). */
  done: () => boolean;
  run: (progress: (fraction: number, detail?: string) => void) => Promise<unknown>;
}

/**
 * Builds what is missing of the default world, in order, each step skipped when its artefact
 * exists (artefacts appear atomically, so "exists" means "complete"). Progress goes to the
 * terminal (the steps' own bars) and to workspace/status/world.json for the search page.
 */
export async function buildWorld(ws: Workspace, spec: WorldSpec = loadWorldSpec()): Promise<void> {
  const ft = spec.finetune;
  // The fine-tuning pool, when the world names one: clean fine-tunes, sterilisation and the poison all use it.
  const pool: { trainset: string; spec: PoolSpec } | null =
    ft.trainset && ft.images !== undefined
      ? { trainset: ft.trainset, spec: { images: ft.images, seed: ft.subsetSeed ?? 0, profile: ft.profile ?? null, classImages: ft.classImages ?? null } }
      : null;
  const cleanFt = pool?.trainset ?? spec.trainset.name;
  const steps: Step[] = [
    {
      name: 'dataset',
      title: `scenes dataset (${spec.dataset.count} images)`,
      done: () => existsSync(join(datasetDir(ws, spec.dataset.name), 'dataset.json')),
      run: () =>
        generateScenes(ws, {
          name: spec.dataset.name,
          count: spec.dataset.count,
          size: spec.dataset.size,
          seed: spec.dataset.seed,
          ...defaultSplits(spec.dataset.count),
          balance: SCENES_DEFAULTS.balance as Balance,
          baseImages: spec.dataset.baseImages ?? null,
          workers: defaultWorkers(spec.dataset.count),
          force: false,
        }),
    },
    {
      name: 'trainset',
      title: 'clean training pairs',
      done: () => existsSync(join(trainsetDir(ws, spec.trainset.name), 'trainset.json')),
      run: () =>
        buildCleanTrainset(ws, { dataset: spec.dataset.name, split: spec.trainset.split, name: spec.trainset.name, ...(spec.dataset.baseImages ? { part: 'base' as const } : {}) }),
    },
    ...(pool
      ? [
          {
            name: 'finetune-trainset',
            title: `clean fine-tuning pairs (${pool.spec.images} sampled images)`,
            done: () => existsSync(join(trainsetDir(ws, pool.trainset), 'trainset.json')),
            run: () => buildCleanTrainset(ws, { dataset: spec.dataset.name, split: 'train', name: pool.trainset, pool: pool.spec }),
          },
        ]
      : []),
    {
      name: 'poison',
      title: `Attack ${spec.poisoned.attack} training pairs (${spec.poisoned.goal})`,
      done: () => existsSync(join(trainsetDir(ws, spec.poisoned.trainset), 'trainset.json')),
      run: () =>
        buildPoisonedTrainset(ws, {
          dataset: spec.dataset.name,
          attack: spec.poisoned.attack,
          goal: spec.poisoned.goal,
          budget: { images: spec.poisoned.poisonImages },
          seed: spec.poisoned.seed,
          name: spec.poisoned.trainset,
          ...(pool ? { pool: pool.spec } : {}),
        }),
    },
    modelStep(ws, spec.dataset.name, spec.base.name, 'base model, trained from scratch', (onEvent) =>
      trainModel(ws, { trainset: spec.trainset.name, name: spec.base.name, recipe: spec.base.recipe, seed: spec.base.seed, steps: spec.base.steps, onEvent }),
    ),
    modelStep(ws, spec.dataset.name, spec.poisoned.name, `poisoned model (Attack ${spec.poisoned.attack}, ${spec.poisoned.goal})`, (onEvent) =>
      trainModel(ws, { trainset: spec.poisoned.trainset, from: spec.base.name, name: spec.poisoned.name, ...finetuneLength(ft), lr: ft.lr, seed: ft.seed, onEvent }),
    ),
    modelStep(ws, spec.dataset.name, spec.clean.name, 'clean fine-tuned model', (onEvent) =>
      trainModel(ws, { trainset: cleanFt, from: spec.base.name, name: spec.clean.name, ...finetuneLength(ft), lr: ft.lr, seed: ft.seed, onEvent }),
    ),
    modelStep(ws, spec.dataset.name, spec.defended.name, `defended model (the poisoned one sterilised: ${spec.defended.steps} clean steps)`, () =>
      sterilizeModel(ws, { model: spec.poisoned.name, trainset: cleanFt, steps: spec.defended.steps, lr: spec.defended.lr, seed: spec.defended.seed, name: spec.defended.name }),
    ),
  ];
  await runSteps(ws, steps);
}

/** Steps when the world names them (quick worlds), else epochs. */
function finetuneLength(ft: WorldSpec['finetune']): { steps: number } | { epochs: number } {
  return ft.steps !== undefined ? { steps: ft.steps } : { epochs: ft.epochs };
}

/**
 * Trains a model, then indexes the gallery's test split with it, so the server can search the
 * model the moment its package appears. "Done" means both exist.
 */
function modelStep(ws: Workspace, dataset: string, name: string, title: string, train: (onEvent: (e: EngineEvent) => void) => Promise<unknown>): Step {
  const packaged = () => existsSync(join(modelDir(ws, name), 'model.json'));
  return {
    name,
    title,
    done: () => packaged() && existsSync(join(indexDir(ws, name, dataset, 'test'), 'index.json')),
    run: async (progress) => {
      if (!packaged()) {
        await train((e) => {
          const step = Number(e.step);
          const total = Number(e.totalSteps);
          if (Number.isFinite(step) && Number.isFinite(total) && total > 0) progress(step / total, `step ${step}/${total}`);
        });
      }
      progress(1, 'indexing the test split');
      await ensureIndex(ws, { model: name, dataset, split: 'test' });
    },
  };
}

async function runSteps(ws: Workspace, steps: Step[]): Promise<void> {
  const status: WorldStatus = {
    state: 'running',
    steps: steps.map((s) => ({ name: s.name, title: s.title, state: s.done() ? 'skipped' : 'pending' })),
    updatedAt: new Date().toISOString(),
  };
  let lastWrite = 0;
  const save = (force = false) => {
    const now = Date.now();
    if (!force && now - lastWrite < 1000) return; // the page polls every few seconds
    lastWrite = now;
    status.updatedAt = new Date(now).toISOString();
    writeJsonAtomic(worldStatusPath(ws), status);
  };
  save(true);
  for (let i = 0; i < steps.length; i++) {
    const row = status.steps[i];
    if (row.state === 'skipped') continue;
    row.state = 'running';
    console.error(`up: [${i + 1}/${steps.length}] ${steps[i].title}`);
    save(true);
    try {
      await steps[i].run((fraction, detail) => {
        row.progress = fraction;
        row.detail = detail;
        save();
      });
      row.state = 'done';
      row.progress = 1;
      save(true);
    } catch (err) {
      row.state = 'failed';
      status.state = 'failed';
      status.error = (err as Error).message;
      save(true);
      throw err;
    }
  }
  status.state = 'done';
  save(true);
}
