import type { Catalog } from './connection.js';

/** The `trainsets` table: one row per training set, pointing at its folder, with its card. */
export interface TrainsetRecord {
  name: string;
  path: string;
  dataset: string;
  builder: string;
  pairsSha256: string;
  pairs: number;
  poisonedPairs: number;
  /** The whole trainset.json. */
  card: unknown;
  createdAt: string;
}

/** Records (or refreshes) a training set. */
export function upsertTrainset(db: Catalog, t: TrainsetRecord): void {
  db.prepare(
    `INSERT OR REPLACE INTO trainsets (name, path, dataset, builder, pairs_sha256, pairs, poisoned, card, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(t.name, t.path, t.dataset, t.builder, t.pairsSha256, t.pairs, t.poisonedPairs, JSON.stringify(t.card), t.createdAt);
}
