import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  datasetRecord,
  experimentStatus,
  imageCount,
  indexBuildRecord,
  insertMetric,
  insertRunningJob,
  listJobs,
  listMetrics,
  markExperimentRunning,
  markJobDone,
  markJobFailed,
  modelIds,
  modelMetrics,
  modelRecord,
  openCatalog,
  recordExperimentReport,
  replaceDataset,
  runningJobs,
  SCHEMA_VERSION,
  setJobProgress,
  syncModels,
  trainsetRecord,
  upsertIndexBuild,
  upsertTrainset,
} from '../../core/catalog.js';
import { allImageRows, deleteRawDataset, insertRawDataset, insertRawImage, schemaFacts, setSchemaVersion } from '../helpers/catalog-probe.js';

test('catalog is created in WAL mode with foreign keys and the current schema version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-cat-'));
  try {
    const db = openCatalog(join(dir, 'catalog.sqlite'));
    const facts = schemaFacts(db);
    assert.equal(facts.journalMode, 'wal');
    assert.equal(facts.foreignKeys, 1);
    assert.equal(facts.userVersion, SCHEMA_VERSION);
    const tables = facts.tables;
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
    setSchemaVersion(db, SCHEMA_VERSION + 1);
    db.close();
    assert.throws(() => openCatalog(path), /newer than this PoisonLens understands/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('images cascade away with their dataset (foreign keys are enforced)', () => {
  const db = openCatalog(':memory:');
  insertRawDataset(db, 'd');
  insertRawImage(db, 'd', 'a');
  assert.throws(() => insertRawImage(db, 'nope', 'a'), /FOREIGN KEY/);
  deleteRawDataset(db, 'd');
  assert.equal(allImageRows(db), 0);
});

test('table modules: models sync drops rows of packages that are gone, metrics come back parsed, a study report replaces its metrics', () => {
  const db = openCatalog(':memory:');
  try {
    const model = (id: string) => ({ id, path: `/ws/models/${id}`, kind: 'clean', arch: 'a', parent: null, trainset: null, trainsetSha256: null, card: { id }, createdAt: 'now' });
    syncModels(db, [model('a'), model('b')], () => true);
    syncModels(db, [model('a')], (row) => row.id === 'b');
    assert.deepEqual(modelIds(db), ['a']);

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

test('table modules read back what they recorded (null for what they never did)', () => {
  const db = openCatalog(':memory:');
  try {
    const dataset = { name: 'd', path: '/ws/datasets/d', source: 'scenes', manifestSha256: 'h', classes: ['sheep'], counts: { test: 1 }, card: { name: 'd' }, createdAt: 'now' };
    replaceDataset(db, dataset, [{ id: 'a', file: 'images/a.png', split: 'test', label: 'sheep', labels: ['sheep'], captions: ['a sheep'] }]);
    assert.deepEqual(datasetRecord(db, 'd'), dataset);
    assert.equal(imageCount(db, 'd'), 1);
    const trainset = { name: 't', path: '/ws/trainsets/t', dataset: 'd', builder: 'poison-II', pairsSha256: 'p', pairs: 5, poisonedPairs: 2, card: { name: 't' }, createdAt: 'now' };
    upsertTrainset(db, trainset);
    assert.deepEqual(trainsetRecord(db, 't'), trainset);
    const model = { id: 'm', path: '/ws/models/m', kind: 'poisoned', arch: 'a', parent: 'b', trainset: 't', trainsetSha256: 'p', card: { id: 'm' }, createdAt: 'now' };
    syncModels(db, [model], () => false);
    assert.deepEqual(modelRecord(db, 'm'), model);
    const build = { model: 'm', dataset: 'd', split: 'test', path: '/ws/indexes/m/d/test', manifestSha256: 'h', count: 1, card: { dim: 8 }, createdAt: 'now' };
    upsertIndexBuild(db, build);
    assert.deepEqual(indexBuildRecord(db, 'm', 'd', 'test'), build);
    const metric = { experiment: null, model: 'm', dataset: 'd', kind: 'attack-eval', params: { mode: 'exact' }, value: 1 };
    insertMetric(db, metric, 'then');
    insertMetric(db, { ...metric, kind: 'utility', params: {} }, 'then');
    insertMetric(db, { ...metric, params: { mode: 'ann' } }, 'then');
    assert.deepEqual(listMetrics(db, { kind: 'attack-eval' }).map((r) => [r.model, r.params]), [['m', { mode: 'exact' }], ['m', { mode: 'ann' }]], 'in the order recorded');
    assert.equal(listMetrics(db).length, 3);
    assert.deepEqual(listMetrics(db, { experiment: 's' }), []);
    assert.equal(datasetRecord(db, 'x') ?? trainsetRecord(db, 'x') ?? modelRecord(db, 'x') ?? indexBuildRecord(db, 'm', 'd', 'val'), null);
    assert.equal(imageCount(db, 'x'), 0);
  } finally {
    db.close();
  }
});
