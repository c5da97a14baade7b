import type { Catalog } from './connection.js';

/** The `index_builds` table: one row per model, dataset and split, pointing at the index folder. */
export interface IndexBuildRecord {
  model: string;
  dataset: string;
  split: string;
  path: string;
  manifestSha256: string;
  count: number;
  /** The whole index.json. */
  card: unknown;
  createdAt: string;
}

/** Records (or replaces) the index of a model, dataset and split. */
export function upsertIndexBuild(db: Catalog, b: IndexBuildRecord): void {
  db.prepare(
    `INSERT OR REPLACE INTO index_builds (model, dataset, split, path, manifest_sha256, count, card, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(b.model, b.dataset, b.split, b.path, b.manifestSha256, b.count, JSON.stringify(b.card), b.createdAt);
}
