import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openCatalog } from '../../core/catalog.js';
import { UserError } from '../../core/errors.js';
import { Progress } from '../../core/progress.js';
import type { Workspace } from '../../core/workspace.js';
import { loadDataset } from '../dataset.js';
import { poolFacts, restrictTrainSplit, samplePool, type PoolSpec } from '../pool.js';
import { goalShares } from './share.js';
import { registerTrainset, trainsetDir, writeTrainset, type Trainset } from '../trainset.js';
import { getAttack, runAttack, type Budget } from './attacks.js';
import { parseGoals } from './goals.js';
import type { TriggerSpec } from './trigger.js';

export interface PoisonOptions {
  dataset: string;
  attack: string;
  /** `A>B[,A2>B2…]` */
  goal: string;
  budget: Budget;
  keepClean?: boolean;
  seed: number;
  targetImage?: string;
  trigger?: TriggerSpec;
  /** Poison a fine-tuning pool (data/pool.ts), not the whole train split. */
  pool?: PoolSpec;
  /** Name of the training set to write. */
  name: string;
  /** Record it in the catalog (default true). */
  register?: boolean;
  quiet?: boolean;
  /** More fields for trainset.json (a study's inputs hash). */
  extra?: Record<string, unknown>;
}

/**
 * `poisonlens poison`: builds a poisoned training set from a dataset's train split, writes it
 * (pairs.jsonl, trainset.json with an `attack` block, and any triggered images) atomically into
 * workspace/trainsets/<name>/ and records it in the catalog.
 */
export async function buildPoisonedTrainset(ws: Workspace, opts: PoisonOptions): Promise<Trainset> {
  const info = getAttack(opts.attack);
  const goals = parseGoals(opts.goal, { allowAnySource: info.anySource });
  if (opts.targetImage !== undefined && opts.attack !== 'I') throw new UserError('--target-image is only for --attack I', 'bad_flags');
  const whole = loadDataset(ws, opts.dataset);
  const pool = opts.pool ? samplePool(whole, opts.pool) : null;
  const dataset = pool ? restrictTrainSplit(whole, pool) : whole;
  if (!dataset.entries.some((e) => e.split === 'train')) throw new UserError(`dataset ${opts.dataset} has no train split to poison`, 'empty_split');
  const outDir = trainsetDir(ws, opts.name);
  const keepClean = opts.keepClean ?? false;
  const result = await runAttack(opts.attack, {
    dataset,
    goals,
    budget: opts.budget,
    keepClean,
    seed: opts.seed,
    targetImage: opts.targetImage,
    trigger: opts.trigger,
    outDir,
  });
  const params: Record<string, unknown> = {
    attack: opts.attack,
    goal: opts.goal,
    ...('images' in opts.budget ? { poisonImages: opts.budget.images } : { rate: opts.budget.rate }),
    keepClean,
    ...(opts.targetImage !== undefined ? { targetImage: opts.targetImage } : {}),
    ...(opts.trigger ? { trigger: opts.trigger } : {}),
    ...(pool ? { images: opts.pool!.images, subsetSeed: opts.pool!.seed, poolImages: pool.length } : {}),
  };
  const train = dataset.entries.filter((e) => e.split === 'train');
  const trainset = await writeTrainset(
    ws,
    opts.name,
    result.pairs,
    {
      dataset: { name: dataset.name, manifestSha256: dataset.card.manifestSha256, dir: dataset.dir },
      builder: { name: `poison-${opts.attack}`, params },
      seed: opts.seed,
      attack: { ...result.facts, shares: goalShares(train, dataset.card.classes, result.facts) },
      ...(pool ? { pool: poolFacts(whole, opts.pool!, pool) } : {}),
      ...opts.extra,
    },
    {
      files: async (tmp) => {
        if (result.files.length === 0) return;
        const bar = new Progress({ label: 'stamping triggers', total: result.files.length, unit: 'img', quiet: opts.quiet });
        for (const f of result.files) {
          const path = join(tmp, f.path);
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, await f.bytes());
          bar.tick();
        }
        bar.finish();
      },
    },
  );
  if (opts.register ?? true) {
    const db = openCatalog(ws.catalogPath);
    try {
      registerTrainset(db, trainset);
    } finally {
      db.close();
    }
  }
  return trainset;
}
