import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openCatalog, SCHEMA_VERSION } from '../../core/catalog.js';

test('catalog is created in WAL mode with foreign keys and the current schema version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-cat-'));
  try {
    const db = openCatalog(join(dir, 'catalog.sqlite'));
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r: any) => r.name);
    for (const t of ['datasets', 'images', 'trainsets', 'models', 'jobs']) assert.ok(tables.includes(t), t);
    db.close();
    // Reopening is a no-op migration.
    openCatalog(join(dir, 'catalog.sqlite')).close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a catalog written by a newer schema is refused with a clear message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-cat-'));
  try {
    const path = join(dir, 'catalog.sqlite');
    const db = openCatalog(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => openCatalog(path), /newer than this PoisonLens understands/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('images cascade away with their dataset (foreign keys are enforced)', () => {
  const db = openCatalog(':memory:');
  db.prepare("INSERT INTO datasets VALUES ('d', '/x', 'test', 'h', '[]', '{}', '{}', 'now')").run();
  db.prepare("INSERT INTO images VALUES ('d', 'a', 'images/a.png', 'test', null, '[]', '[]')").run();
  assert.throws(() => db.prepare("INSERT INTO images VALUES ('nope', 'a', 'f', 'test', null, '[]', '[]')").run(), /FOREIGN KEY/);
  db.prepare("DELETE FROM datasets WHERE name = 'd'").run();
  assert.equal((db.prepare('SELECT count(*) n FROM images').get() as { n: number }).n, 0);
});
