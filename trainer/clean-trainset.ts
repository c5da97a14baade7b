import { UserError } from '../core/errors.js';
import { openCatalog } from '../core/catalog.js';
import type { Workspace } from '../core/workspace.js';
import { loadDataset, SPLITS, type Split } from '../data/dataset.js';
import { basePart, poolFacts, samplePool, type PoolSpec } from '../data/pool.js';
import { registerTrainset, writeTrainset, type Trainset, type TrainPair } from '../data/trainset.js';

export interface CleanTrainsetOptions {
  dataset: string;
  split: Split;
  name: string;
  /** Only a fine-tuning pool of the train split (data/pool.ts). */
  pool?: PoolSpec;
  /** Only the train images reserved for the base model (data/pool.ts). */
  part?: 'base';
  /** Record it in the catalog (default true). */
  register?: boolean;
}

/**
 * `poisonlens trainset`: the clean training set of a dataset split, one pair per caption
 * (image paths relative to the dataset folder), written atomically and recorded in the catalog.
 */
export async function buildCleanTrainset(ws: Workspace, opts: CleanTrainsetOptions): Promise<Trainset> {
  if (!SPLITS.includes(opts.split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}, got ${JSON.stringify(opts.split)}`, 'bad_flags');
  if ((opts.pool || opts.part) && opts.split !== 'train') throw new UserError(`${opts.pool ? '--pool-images samples' : '--part samples'} the train split only`, 'bad_flags');
  if (opts.pool && opts.part) throw new UserError('give --pool-images or --part base, not both', 'bad_flags');
  const dataset = loadDataset(ws, opts.dataset);
  const entries = opts.pool ? samplePool(dataset, opts.pool) : opts.part ? basePart(dataset) : dataset.entries.filter((e) => e.split === opts.split);
  const pairs: TrainPair[] = [];
  for (const e of entries) {
    for (const caption of e.captions) pairs.push({ image: e.file, caption, imageId: e.id, poisoned: false, attack: null });
  }
  if (pairs.length === 0) {
    throw new UserError(`dataset ${opts.dataset} has no captioned images in its ${opts.split} split: the training set would be empty`, 'empty_trainset');
  }
  const t = await writeTrainset(ws, opts.name, pairs, {
    dataset: { name: dataset.name, manifestSha256: dataset.card.manifestSha256, dir: dataset.dir },
    builder: {
      name: 'clean',
      params: opts.pool ? { split: opts.split, images: opts.pool.images, subsetSeed: opts.pool.seed, poolImages: entries.length } : { split: opts.split, ...(opts.part ? { part: opts.part, images: entries.length } : {}) },
    },
    seed: null,
    ...(opts.pool ? { pool: poolFacts(dataset, opts.pool, entries) } : {}),
  });
  if (opts.register ?? true) {
    const db = openCatalog(ws.catalogPath);
    try {
      registerTrainset(db, t);
    } finally {
      db.close();
    }
  }
  return t;
}
