import { parseJsonColumn, type Catalog } from './connection.js';

/** The `models` table: one row per model package, pointing at its folder, with its card. */
export interface ModelRecord {
  id: string;
  path: string;
  kind: string;
  arch: string;
  parent: string | null;
  trainset: string | null;
  trainsetSha256: string | null;
  /** The whole model.json. */
  card: unknown;
  createdAt: string;
}

/** Records (or refreshes) a model package. */
export function upsertModel(db: Catalog, m: ModelRecord): void {
  db.prepare(
    `INSERT OR REPLACE INTO models (id, path, kind, arch, parent, trainset, trainset_sha256, card, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(m.id, m.path, m.kind, m.arch, m.parent, m.trainset, m.trainsetSha256, JSON.stringify(m.card), m.createdAt);
}

/**
 * Records every package in `models` and drops the rows of other packages that `isGone` says
 * no longer exist, in one transaction.
 */
export function syncModels(db: Catalog, models: ModelRecord[], isGone: (row: { id: string; path: string }) => boolean): void {
  db.transaction(() => {
    for (const m of models) upsertModel(db, m);
    const ids = new Set(models.map((m) => m.id));
    for (const row of db.prepare('SELECT id, path FROM models').all() as Array<{ id: string; path: string }>) {
      if (!ids.has(row.id) && isGone(row)) db.prepare('DELETE FROM models WHERE id = ?').run(row.id);
    }
  })();
}

/** The record of model `id`, or null when the catalog has none. */
export function modelRecord(db: Catalog, id: string): ModelRecord | null {
  const r = db.prepare('SELECT * FROM models WHERE id = ?').get(id) as
    | { id: string; path: string; kind: string; arch: string; parent: string | null; trainset: string | null; trainset_sha256: string | null; card: string; created_at: string }
    | undefined;
  if (!r) return null;
  return { id: r.id, path: r.path, kind: r.kind, arch: r.arch, parent: r.parent, trainset: r.trainset, trainsetSha256: r.trainset_sha256, card: parseJsonColumn(r.card), createdAt: r.created_at };
}

/** The ids of the models the catalog records, sorted. */
export function modelIds(db: Catalog): string[] {
  return (db.prepare('SELECT id FROM models ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id);
}
