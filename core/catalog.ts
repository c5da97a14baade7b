import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from './errors.js';

/**
 * The catalog: an SQLite index over the workspace's files with provenance (ARCHITECTURE.md §2).
 * Files stay the source of truth for bulk data; rows point at them.
 *
 * Migrations are forward-only and numbered; `user_version` records the last one applied.
 * Add a migration by appending to MIGRATIONS, never by editing an applied one.
 */
const MIGRATIONS: string[] = [
  // 1: the whole first schema.
  `
  CREATE TABLE datasets (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    source TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    classes TEXT NOT NULL,            -- JSON array
    counts TEXT NOT NULL,             -- JSON {train, val, test}
    card TEXT NOT NULL,               -- the whole dataset.json
    created_at TEXT NOT NULL
  );
  CREATE TABLE images (
    dataset TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    file TEXT NOT NULL,
    split TEXT NOT NULL,
    label TEXT,
    labels TEXT NOT NULL,             -- JSON array
    captions TEXT NOT NULL,           -- JSON array
    PRIMARY KEY (dataset, id)
  );
  CREATE INDEX images_split ON images(dataset, split, label);
  CREATE TABLE trainsets (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    dataset TEXT NOT NULL,
    builder TEXT NOT NULL,
    pairs_sha256 TEXT NOT NULL,
    pairs INTEGER NOT NULL,
    poisoned INTEGER NOT NULL,
    card TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE models (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    arch TEXT NOT NULL,
    parent TEXT,
    trainset TEXT,
    trainset_sha256 TEXT,
    card TEXT NOT NULL,               -- the whole model.json
    created_at TEXT NOT NULL
  );
  CREATE TABLE index_builds (
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    split TEXT NOT NULL,
    path TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    count INTEGER NOT NULL,
    card TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (model, dataset, split)
  );
  CREATE TABLE experiments (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    spec_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    report TEXT,                      -- JSON, when done
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE metrics (
    experiment TEXT,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    kind TEXT NOT NULL,               -- e.g. "attack", "utility"
    params TEXT NOT NULL,             -- JSON (attack, goal, mode…)
    value TEXT NOT NULL,              -- JSON
    created_at TEXT NOT NULL
  );
  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,               -- train, index, experiment, dataset…
    target TEXT NOT NULL,             -- what it builds
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    pid INTEGER,
    params TEXT NOT NULL,
    progress TEXT,
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT
  );
  CREATE INDEX jobs_state ON jobs(state);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export type Catalog = Database.Database;

/** Opens (creating and migrating) the catalog at `path`. */
export function openCatalog(path: string): Catalog {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function migrate(db: Catalog): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new UserError(
      `catalog ${db.name} has schema version ${version}, newer than this PoisonLens understands (${SCHEMA_VERSION}); upgrade PoisonLens or use another workspace`,
      'catalog_too_new',
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}
