import { parseJsonColumn, type Catalog } from './connection.js';

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

/** The record of the index of `model` over `dataset`/`split`, or null when the catalog has none. */
export function indexBuildRecord(db: Catalog, model: string, dataset: string, split: string): IndexBuildRecord | null {
  const r = db.prepare('SELECT * FROM index_builds WHERE model = ? AND dataset = ? AND split = ?').get(model, dataset, split) as
    | { model: string; dataset: string; split: string; path: string; manifest_sha256: string; count: number; card: string; created_at: string }
    | undefined;
  if (!r) return null;
  return { model: r.model, dataset: r.dataset, split: r.split, path: r.path, manifestSha256: r.manifest_sha256, count: r.count, card: parseJsonColumn(r.card), createdAt: r.created_at };
}
