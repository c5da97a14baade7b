import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  experimentStatus,
  insertMetric,
  insertRunningJob,
  listJobs,
  markExperimentRunning,
  markJobDone,
  markJobFailed,
  modelMetrics,
  openCatalog,
  recordExperimentReport,
  runningJobs,
  SCHEMA_VERSION,
  setJobProgress,
  syncModels,
} from '../../core/catalog.js';

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

test('table modules: models sync drops rows of packages that are gone, metrics come back parsed, a study report replaces its metrics', () => {
  const db = openCatalog(':memory:');
  try {
    const model = (id: string) => ({ id, path: `/ws/models/${id}`, kind: 'clean', arch: 'a', parent: null, trainset: null, trainsetSha256: null, card: { id }, createdAt: 'now' });
    syncModels(db, [model('a'), model('b')], () => true);
    syncModels(db, [model('a')], (row) => row.id === 'b');
    assert.deepEqual((db.prepare('SELECT id FROM models ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id), ['a']);

    const metric = { experiment: null, model: 'a', dataset: 'd', kind: 'attack-eval', params: { goal: 'x>y' }, value: { hit: 1 } };
    insertMetric(db, metric, '2026-01-01T00:00:00.000Z');
    markExperimentRunning(db, { id: 's', path: '/ws/reports/s', specSha256: 'h' });
    assert.equal(experimentStatus(db, 's'), 'running');
    recordExperimentReport(db, 's', { id: 's' }, [{ ...metric, experiment: 's' }, { ...metric, experiment: 's' }]);
    recordExperimentReport(db, 's', { id: 's' }, [{ ...metric, experiment: 's', value: { hit: 0 } }]);
    assert.equal(experimentStatus(db, 's'), 'done');
    const rows = modelMetrics(db, 'a');
    assert.deepEqual(rows.map((r) => [r.experiment, r.params, r.value]), [
      ['s', { goal: 'x>y' }, { hit: 0 }],
      [null, { goal: 'x>y' }, { hit: 1 }],
    ]);
  } finally {
    db.close();
  }
});

test('jobs table: a failed mark that only applies to running jobs leaves a finished one alone', () => {
  const db = openCatalog(':memory:');
  try {
    const id = insertRunningJob(db, { type: 'train', target: 'm', pid: 1, params: {} });
    setJobProgress(db, id, { step: 3 });
    markJobDone(db, id);
    assert.equal(markJobFailed(db, id, 'late reaper', { onlyIfRunning: true }), false);
    assert.deepEqual(listJobs(db, { target: 'm' }).map((j) => [j.state, j.progress, j.error]), [['done', '{"step":3}', null]]);
    assert.deepEqual(runningJobs(db), []);
  } finally {
    db.close();
  }
});
