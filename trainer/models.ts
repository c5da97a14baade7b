import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { syncModels, upsertModel, type Catalog, type ModelRecord } from '../core/catalog.js';
import type { Workspace } from '../core/workspace.js';
import { loadModelCard, modelDir, readModelPackage, type ModelPackage } from '../indexer/package.js';
import { runEngine, type EngineEvent } from './engine.js';

/** One line of `poisonlens models`. */
export interface ModelRow {
  id: string;
  name: string;
  kind: string;
  arch: string;
  parent: string | null;
  trainset: string | null;
  /** text→image Recall@10 on the validation slice at the end of training (null: none). */
  valR10: number | null;
  steps: number | null;
  wallSeconds: number | null;
  createdAt: string;
  dir: string;
}

/** Records (or refreshes) a model package in the catalog's `models` table. */
export function registerModel(db: Catalog, pkg: ModelPackage): void {
  upsertModel(db, modelRecord(pkg));
}

function modelRecord(pkg: ModelPackage): ModelRecord {
  const c = pkg.card;
  return { id: pkg.id, path: pkg.dir, kind: c.kind, arch: c.arch, parent: c.parent, trainset: c.trainset?.name ?? null, trainsetSha256: c.trainset?.sha256 ?? null, card: c, createdAt: c.createdAt };
}

export function modelRow(pkg: ModelPackage): ModelRow {
  const c = pkg.card;
  const val = (c.metrics as { val?: { ir?: { r10?: number } } | null } | undefined)?.val;
  const trainer = (c.trainer ?? {}) as { steps?: number; wallSeconds?: number };
  return {
    id: pkg.id,
    name: c.name,
    kind: c.kind,
    arch: c.arch,
    parent: c.parent,
    trainset: c.trainset?.name ?? null,
    valR10: typeof val?.ir?.r10 === 'number' ? val.ir.r10 : null,
    steps: typeof trainer.steps === 'number' ? trainer.steps : null,
    wallSeconds: typeof trainer.wallSeconds === 'number' ? trainer.wallSeconds : null,
    createdAt: c.createdAt,
    dir: pkg.dir,
  };
}

/**
 * Every model package in the workspace (the files are the source of truth), oldest first;
 * with `db`, each is (re)registered in the catalog and catalog rows whose folder is gone are
 * dropped. Unreadable packages are reported in `problems`, not thrown.
 */
export function listModels(ws: Workspace, db?: Catalog): { models: ModelRow[]; problems: Array<{ dir: string; message: string }> } {
  const models: ModelRow[] = [];
  const problems: Array<{ dir: string; message: string }> = [];
  const pkgs: ModelPackage[] = [];
  if (existsSync(ws.models)) {
    for (const name of readdirSync(ws.models).sort()) {
      if (name.startsWith('.')) continue; // temp folders of packages being built, run folders
      const dir = join(ws.models, name);
      if (!existsSync(join(dir, 'model.json'))) continue;
      try {
        pkgs.push(readModelPackage(dir));
      } catch (err) {
        problems.push({ dir, message: (err as Error).message });
      }
    }
  }
  if (db) syncModels(db, pkgs.map(modelRecord), (row) => !existsSync(join(row.path, 'model.json')));
  for (const p of pkgs) models.push(modelRow(p));
  models.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  return { models, problems };
}

/** What `reexportTextGraphs` did to one package. */
export interface ReexportResult {
  id: string;
  state: 'reexported' | 'skipped';
  why?: string;
  maxDifference?: number;
}

/**
 * Re-exports the text graphs of model packages in place with the engine's current export (a free
 * sequence axis: query encodes without the padding), checked to give the same embeddings; every
 * other file is kept, so indexes stay valid. `ids` empty: every package of the workspace. The
 * catalog is synced after (the cards record new checksums and the re-export).
 */
export async function reexportTextGraphs(ws: Workspace, db: Catalog, ids: string[], onResult?: (r: ReexportResult) => void): Promise<ReexportResult[]> {
  const wanted = ids.length ? ids : listModels(ws).models.map((m) => m.id);
  for (const id of wanted) loadModelCard(ws, id); // an unknown id fails before anything is written
  const results: ReexportResult[] = [];
  const onEvent = (e: EngineEvent) => {
    if (e.event !== 'reexported') return;
    const r: ReexportResult = { id: basename(String(e.package)), state: e.state === 'reexported' ? 'reexported' : 'skipped' };
    if (typeof e.why === 'string') r.why = e.why;
    if (typeof e.maxDifference === 'number') r.maxDifference = e.maxDifference;
    results.push(r);
    onResult?.(r);
  };
  try {
    if (wanted.length) await runEngine(['reexport-text', ...wanted.map((id) => modelDir(ws, id))], { onEvent });
  } finally {
    listModels(ws, db); // what was rewritten before a failure is recorded too
  }
  return results;
}
