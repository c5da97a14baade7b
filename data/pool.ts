import { hashString, Rng } from '../core/random.js';
import type { Dataset, ManifestEntry } from './dataset.js';

/**
 * A fine-tuning pool: a seeded sample of `images` captioned training images (all of them when
 * null or when there are fewer), in manifest order. The paper fine-tunes on a small clean set;
 * studies and the main job draw the same sample for the same (dataset, images, seed).
 */
export function samplePool(dataset: Dataset, images: number | null, seed: number): ManifestEntry[] {
  const train = dataset.entries.filter((e) => e.split === 'train' && e.captions.length > 0);
  if (images === null || images >= train.length) return train;
  const rng = new Rng((seed ^ hashString(`finetune-pool:${dataset.card.manifestSha256}`)) >>> 0);
  const keep = new Set(rng.shuffle(train).slice(0, images).map((e) => e.id));
  return train.filter((e) => keep.has(e.id));
}

/** The dataset as an attack sees it when it poisons a pool: its train split is the pool. */
export function restrictTrainSplit(dataset: Dataset, pool: ManifestEntry[]): Dataset {
  const ids = new Set(pool.map((e) => e.id));
  return { ...dataset, entries: dataset.entries.filter((e) => e.split !== 'train' || ids.has(e.id)) };
}
