/**
 * `npm start` (= `poisonlens up`) end to end on a tiny world file (POISONLENS_WORLD) that the test
 * writes: a 200-image scenes dataset at 32 px, a base of two steps from a recipe file of the
 * test's own (the tests' tiny architecture: a quick ONNX export), two-step fine-tunes and a
 * one-step sterilisation. The first run is killed (SIGKILL) once its first model step runs, the second
 * run — serving meanwhile — resumes and builds every step that is missing, and a third reuses
 * everything. Every wait is on the build's status file, a log line or a process's exit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VENV_PYTHON } from '../../trainer/setup.js';
import type { WorldStatus } from '../../trainer/world.js';
import { descendantPids, waitGone } from '../helpers/procs.js';
import { waitFor } from '../server/harness.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'bin', 'poisonlens.mjs');
const skip = existsSync(VENV_PYTHON) ? false : 'the Python venv (.venv) is missing: run `poisonlens setup`';

/** A from-scratch recipe (the engine takes a recipe name or a JSON file) of the tests' tiny architecture. */
const RECIPE = { name: 'up-test-tiny', arch: 'pl-tiny-test', lr: 1e-3, minLr: 1e-6, weightDecay: 0.2, warmupSteps: 0, batch: 32, steps: 2 };
/** The test's own world: nothing here depends on trainer/world.json's values. */
const WORLD = {
  description: 'tiny world of test/trainer/up.test.ts',
  dataset: { name: 'upw', count: 200, size: 32, seed: 0 },
  trainset: { name: 'upw-train', split: 'train' },
  base: { name: 'upw-base', recipe: 'RECIPE_FILE', seed: 0, steps: 2 },
  finetune: { trainset: 'upw-ft', images: 100, subsetSeed: 0, epochs: 1, steps: 2, lr: 0.0001, seed: 0 },
  clean: { name: 'upw-clean' },
  poisoned: { name: 'upw-poisoned', trainset: 'upw-poison', attack: 'II', goal: 'sheep>aeroplane', poisonImages: 1, seed: 0 },
  defended: { name: 'upw-defended', steps: 1, lr: 0.0001, seed: 0 },
};
const MODELS = [WORLD.base.name, WORLD.poisoned.name, WORLD.clean.name, WORLD.defended.name];
const KINDS: Record<string, string> = { [WORLD.base.name]: 'base', [WORLD.poisoned.name]: 'poisoned', [WORLD.clean.name]: 'clean', [WORLD.defended.name]: 'defended' };

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

describe('poisonlens up (npm start) on a tiny world file', { skip }, () => {
  let dir = '';
  let worldFile = '';
  const statusPath = () => join(dir, 'workspace', 'status', 'world.json');
  const status = (): WorldStatus | null => {
    try {
      return JSON.parse(readFileSync(statusPath(), 'utf8')) as WorldStatus;
    } catch {
      return null; // not written yet
    }
  };
  const stateOf = (s: WorldStatus | null) => Object.fromEntries((s?.steps ?? []).map((r) => [r.name, r.state]));
  const up = (args: string[]): Run => {
    const env: NodeJS.ProcessEnv = { ...process.env, POISONLENS_WORLD: worldFile };
    delete env.POISONLENS_ADMIN_TOKEN;
    const child = spawn(process.execPath, [CLI, '--workspace', join(dir, 'workspace'), 'up', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { child, stdout: '', stderr: '', exited: new Promise((r) => child.once('exit', (code) => r(code))) };
    child.stdout!.on('data', (d) => (run.stdout += d));
    child.stderr!.on('data', (d) => (run.stderr += d));
    return run;
  };
  const built = () => {
    const ws = join(dir, 'workspace');
    const mtimes: Record<string, number> = {};
    for (const m of MODELS) {
      mtimes[m] = statSync(join(ws, 'models', m, 'model.json')).mtimeMs;
      mtimes[`${m}/index`] = statSync(join(ws, 'indexes', m, WORLD.dataset.name, 'test', 'index.json')).mtimeMs;
    }
    for (const t of [WORLD.trainset.name, WORLD.finetune.trainset, WORLD.poisoned.trainset]) mtimes[t] = statSync(join(ws, 'trainsets', t, 'trainset.json')).mtimeMs;
    mtimes.dataset = statSync(join(ws, 'datasets', WORLD.dataset.name, 'dataset.json')).mtimeMs;
    return mtimes;
  };
  const runs: Run[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pl-up-'));
    worldFile = join(dir, 'world.json');
    const recipe = join(dir, 'up-test-tiny.json');
    writeFileSync(recipe, JSON.stringify(RECIPE, null, 2));
    writeFileSync(worldFile, JSON.stringify({ ...WORLD, base: { ...WORLD.base, recipe } }, null, 2));
  });
  after(() => {
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  let afterKill: Record<string, string> = {};

  test('a first run killed during its first model step leaves no half-built model', { timeout: 900_000 }, async () => {
    const first = up(['--no-serve']);
    runs.push(first);
    // The base step is running and its engine has started.
    let engine: number[] = [];
    await waitFor(() => {
      if (first.child.exitCode !== null) return true;
      if (stateOf(status())[WORLD.base.name] !== 'running') return false;
      engine = descendantPids(first.child.pid!);
      return engine.length > 0;
    }, 'the base model step\'s engine to start', 600_000);
    assert.equal(first.child.exitCode, null, `up exited early:\n${first.stderr.slice(-2000)}`);
    first.child.kill('SIGKILL');
    await first.exited;
    await waitGone(engine, 'the engine of the killed run');
    afterKill = stateOf(status());
    // The steps before the base finished; the base did not.
    assert.deepEqual(afterKill, { dataset: 'done', trainset: 'done', 'finetune-trainset': 'done', poison: 'done', [WORLD.base.name]: 'running', [WORLD.poisoned.name]: 'pending', [WORLD.clean.name]: 'pending', [WORLD.defended.name]: 'pending' });
    assert.ok(!existsSync(join(dir, 'workspace', 'models', WORLD.base.name, 'model.json')), 'no package from the killed step');
  });

  test('a second run, serving meanwhile, resumes and builds every missing step', { timeout: 900_000 }, async () => {
    const second = up(['--port', '0']);
    runs.push(second);
    await waitFor(() => /at http:\/\/127\.0\.0\.1:\d+\//.test(second.stdout) || second.child.exitCode !== null, 'the listening line', 120_000);
    const base = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(second.stdout)?.[1];
    assert.ok(base, `no listening line:\n${second.stdout}\n${second.stderr.slice(-2000)}`);
    // The page and the API answer while the world builds; the build's progress is served.
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    await waitFor(() => /the default world is ready/.test(second.stdout) || /building the default world failed/.test(second.stderr), 'the build to end', 840_000);
    assert.match(second.stdout, /the default world is ready/, second.stderr.slice(-3000));
    const build = (await (await fetch(`${base}/api/build`)).json()) as WorldStatus;
    assert.equal(build.state, 'done');
    // What the killed run finished is reused; everything from the base on is built now.
    assert.deepEqual(stateOf(build), { dataset: 'skipped', trainset: 'skipped', 'finetune-trainset': 'skipped', poison: 'skipped', [WORLD.base.name]: 'done', [WORLD.poisoned.name]: 'done', [WORLD.clean.name]: 'done', [WORLD.defended.name]: 'done' });
    const ran = [...second.stderr.matchAll(/^up: \[\d+\/\d+\] (.*)$/gm)].map((m) => m[1]);
    assert.equal(ran.length, 4, `only the model steps ran:\n${ran.join('\n')}`);
    // Every model is a package of its kind, indexed, and searchable through the server.
    const listed = (await (await fetch(`${base}/api/models`)).json()) as { models: Array<{ id: string; kind: string }> };
    for (const m of MODELS) {
      assert.equal(listed.models.find((x) => x.id === m)?.kind, KINDS[m], m);
      const res: Response = await fetch(`${base}/api/search?q=${encodeURIComponent('a sheep on the grass')}&k=3&model=${m}`);
      const text = await res.text();
      assert.equal(res.status, 200, `${m}: ${text}`);
      assert.equal((JSON.parse(text) as { results: unknown[] }).results.length, 3);
    }
    built(); // every artefact exists
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.stderr.slice(-2000));
  });

  test('a third run reuses everything: no step runs, nothing is rewritten', { timeout: 120_000 }, () => {
    const before = built();
    const env = { ...process.env, POISONLENS_WORLD: worldFile };
    const third = spawnSync(process.execPath, [CLI, '--workspace', join(dir, 'workspace'), 'up', '--no-serve'], { cwd: ROOT, env, encoding: 'utf8', timeout: 110_000 });
    assert.equal(third.status, 0, third.stderr);
    assert.match(third.stdout, /the default world is ready/);
    assert.doesNotMatch(third.stderr, /^up: \[/m, 'no step ran');
    const done = status()!;
    assert.equal(done.state, 'done');
    assert.ok(done.steps.every((r) => r.state === 'skipped'), JSON.stringify(stateOf(done)));
    assert.deepEqual(built(), before);
  });
});
