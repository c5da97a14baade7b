import { UserError } from '../errors.js';
import type Database from 'better-sqlite3';

/**
 * The catalog's schema. Migrations are forward-only and numbered; `user_version` records the
 * last one applied. Add a migration by appending to MIGRATIONS, never by editing an applied one.
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

/** Applies the migrations `db` has not seen; refuses a catalog written by a newer schema. */
export function migrate(db: Database.Database): void {
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
