import { parseJsonColumn, type Catalog } from './connection.js';

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

/** The record of training set `name`, or null when the catalog has none. */
export function trainsetRecord(db: Catalog, name: string): TrainsetRecord | null {
  const r = db.prepare('SELECT * FROM trainsets WHERE name = ?').get(name) as
    | { name: string; path: string; dataset: string; builder: string; pairs_sha256: string; pairs: number; poisoned: number; card: string; created_at: string }
    | undefined;
  if (!r) return null;
  return { name: r.name, path: r.path, dataset: r.dataset, builder: r.builder, pairsSha256: r.pairs_sha256, pairs: r.pairs, poisonedPairs: r.poisoned, card: parseJsonColumn(r.card), createdAt: r.created_at };
}
