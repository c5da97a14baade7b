/**
 * kill -9 in the middle of writing an artefact, then restart: nothing half-written is used, the
 * job is shown as failed in the catalog, and rerunning the same command finishes the work.
 *
 * The child runs with POISONLENS_TEST_HOLD=<final folder name>: the index writer
 * (core/fsutil.ts buildDirAtomic) and the engine's package writer (poisonlens_engine/package.py)
 * then fill their temp folder, write `.held` into it and block just before the rename — the
 * most delicate moment — so the kill lands at a known point every time. The whole process group
 * (the CLI and, for training, its Python engine) gets SIGKILL.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { experimentStatus, insertRunningJob, markExperimentRunning, modelRecord, openCatalog } from '../../core/catalog.js';
import { listJobs, processAlive, reapDeadJobs, startJob } from '../../core/jobs.js';
import { removeStaleTempDirs } from '../../core/fsutil.js';
import { loadModelPackage, packageFiles, verifyModelPackage } from '../../indexer/package.js';
import { indexDir } from '../../indexer/index-build.js';
import { loadIndexDir, readIndexCard } from '../../indexer/vector-index.js';
import { ModelRepository } from '../../server/repositories/model-repository.js';
import { serverWorld, serverWorldMissing, serverWorkspace } from '../helpers/server-world.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'bin', 'poisonlens.mjs');
const skip = serverWorldMissing() ?? undefined;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', ...extra };
  if (!extra.POISONLENS_TEST_HOLD) delete e.POISONLENS_TEST_HOLD;
  return e;
}

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: env(), timeout: 240_000 });
}

/** Runs the CLI until it holds before its rename (a `.held` file in a temp folder in `parent`), then kill -9s its process group. */
async function runAndKillAtRename(args: string[], hold: string, parent: string): Promise<{ tmp: string; output: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: env({ POISONLENS_TEST_HOLD: hold }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const prefix = `.${hold}.tmp-`;
  const t0 = Date.now();
  let tmp: string | null = null;
  try {
    while (!tmp) {
      if (child.exitCode !== null) throw new Error(`the command ended (exit ${child.exitCode}) before holding:\n${output}`);
      if (Date.now() - t0 > 180_000) throw new Error(`timed out waiting for ${parent}/${prefix}*/.held:\n${output}`);
      const held = existsSync(parent) ? readdirSync(parent).find((n) => n.startsWith(prefix) && existsSync(join(parent, n, '.held'))) : undefined;
      if (held) tmp = join(parent, held);
      else await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await exited;
  }
  // The engine (a grandchild) may take a moment to be reaped by the system: wait for that state
  // (bounded by time, not by a count of polls that a loaded machine can outrun).
  const holder = Number(readFileSync(join(tmp, '.held'), 'utf8'));
  for (const t1 = Date.now(); processAlive(holder) && Date.now() - t1 < 60_000; ) await new Promise((r) => setTimeout(r, 50));
  assert.equal(processAlive(holder), false, 'the holding process is dead');
  return { tmp, output };
}

/** Starts `poisonlens serve` on a free loopback port, waits until it listens, then SIGTERMs it. */
async function serveBriefly(root: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const e = env();
  delete e.POISONLENS_ADMIN_TOKEN;
  const child = spawn(process.execPath, [CLI, '--workspace', root, 'serve', '--port', '0'], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const t0 = Date.now();
  while (!/at http:\/\/127\.0\.0\.1:\d+\//.test(stdout)) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) {
      child.kill('SIGKILL');
      throw new Error(`serve did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  const code = await exited;
  return { code, stdout, stderr };
}

describe('kill -9 during artefact writes', { skip }, () => {
  test('index build: no half index, the job shows failed, a rerun builds it', async () => {
    const world = await serverWorld();
    const { ws, dispose } = serverWorkspace(world, { indexes: false });
    try {
      const args = ['--workspace', ws.root, 'index', '--model', world.clean, '--dataset', world.dataset, '--split', 'test', '--threads', '1'];
      const final = indexDir(ws, world.clean, world.dataset, 'test');
      const parent = join(final, '..');
      const { tmp } = await runAndKillAtRename(args, 'test', parent);
      assert.equal(existsSync(final), false, 'no final index folder');
      assert.ok(existsSync(join(tmp, 'index.json')), 'the temp folder was complete but never renamed');
      assert.equal(readIndexCard(final), null, 'readers find no index');

      let db = openCatalog(ws.catalogPath);
      const killed = listJobs(db, { type: 'index' });
      assert.equal(killed.length, 1);
      assert.equal(killed[0].state, 'running', 'a killed process cannot mark its own job');
      assert.equal(killed[0].target, `${world.clean}/${world.dataset}/test`);
      db.close();

      const r = cli(args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /index job \d+ .* died with its process; marked failed/);
      assert.match(r.stdout, /built index/);
      assert.equal(existsSync(tmp), false, 'the stale temp folder was removed');
      assert.deepEqual(readdirSync(parent).filter((n) => n.startsWith('.')), []);
      const index = loadIndexDir(final, { verify: 'sha256' });
      assert.ok(index.card.count > 0);

      db = openCatalog(ws.catalogPath);
      const jobs = listJobs(db, { type: 'index' });
      db.close();
      assert.deepEqual(jobs.map((j) => j.state), ['done', 'failed']);
      assert.match(jobs[1].error!, /died while it ran this job.*rerun `poisonlens index`/);
      assert.equal(JSON.parse(jobs[0].progress!).phase, 'done');
    } finally {
      dispose();
    }
  });

  test('model export: no half package, the job shows failed, the same command resumes and finishes', async () => {
    const world = await serverWorld();
    const { ws, dispose } = serverWorkspace(world);
    try {
      const name = 'crash-model';
      const args = ['--workspace', ws.root, 'train', '--trainset', 'tiny-poison', '--from', world.base, '--steps', '2', '--batch', '8',
        '--val-images', '0', '--threads', '1', '--no-bf16', '--seed', '0', '--name', name];
      const { tmp } = await runAndKillAtRename(args, name, ws.models);
      assert.equal(existsSync(join(ws.models, name)), false, 'no final package folder');
      assert.ok(existsSync(join(tmp, 'model.json')), 'the temp package was complete but never renamed');
      assert.ok(!new ModelRepository(ws.models).list().some((m) => m.id === name || m.id.includes('tmp')), 'the server does not list the temp folder');

      let db = openCatalog(ws.catalogPath);
      const killed = listJobs(db, { type: 'train', target: name });
      assert.equal(killed.length, 1);
      assert.equal(killed[0].state, 'running');
      assert.equal(JSON.parse(killed[0].progress!).phase, 'export');
      db.close();

      // Restart the server first: it marks the dead job failed, says how to resume, serves, and
      // stops cleanly on SIGTERM.
      const served = await serveBriefly(ws.root);
      assert.match(served.stderr, new RegExp(`train job \\d+ \\(${name}\\) died with its process; marked failed\\. rerun the same`));
      assert.equal(served.code, 0, served.stderr);
      db = openCatalog(ws.catalogPath);
      assert.equal(listJobs(db, { type: 'train', target: name })[0].state, 'failed');
      db.close();

      const r = cli(args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /resuming from the checkpoint/);
      assert.equal(existsSync(tmp), false, 'the stale temp package was removed');
      const pkg = loadModelPackage(ws, name);
      assert.deepEqual(packageFiles(pkg).map(([f]) => f).sort(), ['bpe_simple_vocab_16e6.txt.gz', 'checkpoint.pt', 'image.onnx', 'metrics.jsonl', 'text.onnx']);
      await verifyModelPackage(pkg);

      db = openCatalog(ws.catalogPath);
      const jobs = listJobs(db, { type: 'train', target: name });
      const model = modelRecord(db, name);
      db.close();
      assert.deepEqual(jobs.map((j) => j.state), ['done', 'failed']);
      assert.match(jobs[1].error!, /resumes from the run's last checkpoint/);
      assert.ok(model, 'the finished package is registered');
    } finally {
      dispose();
    }
  });
});

describe('jobs table: reaping jobs of dead processes', () => {
  test('dead pids and reused pids are marked failed; live ones and other hosts are left; studies too', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'pl-jobs-'));
    const db = openCatalog(join(dir, 'catalog.sqlite'));
    try {
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      const deadPid = Number(dead.stdout);
      const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        // Rows as other processes would have left them (this process is none of them).
        insertRunningJob(db, { type: 'experiment', target: 'study-1', pid: deadPid, params: {} });
        insertRunningJob(db, { type: 'index', target: 'live', pid: sleeper.pid!, params: {} });
        insertRunningJob(db, { type: 'train', target: 'reused-pid', pid: sleeper.pid!, params: { process: { host: (await import('node:os')).hostname(), pidStart: '1' } } });
        insertRunningJob(db, { type: 'train', target: 'other-host', pid: deadPid, params: { process: { host: 'some-other-machine' } } });
        markExperimentRunning(db, { id: 'study-1', path: '/x', specSha256: 'abc' });
        const reaped = reapDeadJobs(db).map((j) => j.target).sort();
        assert.deepEqual(reaped, ['reused-pid', 'study-1']);
        const own = startJob(db, 'index', 'mine', {});
        assert.deepEqual(reapDeadJobs(db), []);
        const state = (t: string) => listJobs(db, { target: t })[0].state;
        assert.equal(state('live'), 'running');
        assert.equal(state('other-host'), 'running');
        assert.equal(state('mine'), 'running', "this process's own job is alive");
        assert.equal(experimentStatus(db, 'study-1'), 'failed');
        assert.match(listJobs(db, { target: 'study-1' })[0].error!, /finished steps are reused/);
        own.progress({ done: 1 }, true);
        own.done();
        assert.equal(state('mine'), 'done');
      } finally {
        sleeper.kill('SIGKILL');
      }
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('stale temp folders of dead writers are removed, live ones kept', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'pl-tmp-'));
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
      for (const n of [`.idx.tmp-${dead}-aaaa`, `.idx.tmp-${sleeper.pid}-bbbb`, `.idx.tmp-${process.pid}-cccc`, `.other.tmp-${dead}-dddd`]) mkdirSync(join(dir, n));
      const removed = removeStaleTempDirs(join(dir, 'idx'));
      assert.deepEqual(removed, [join(dir, `.idx.tmp-${dead}-aaaa`)]);
      assert.equal(readdirSync(dir).length, 3);
    } finally {
      sleeper.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
