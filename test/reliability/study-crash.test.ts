/**
 * kill -9 a study (`poisonlens experiment`) in the middle of a training and in the middle of an
 * evaluation: the next run reaps the dead job (the catalog shows it failed, with how to go on),
 * resumes, and finishes with a report.json identical to an uninterrupted run's (but for the
 * fields that time the run: `comparable`).
 * The kills land at known points: POISONLENS_TEST_HOLD makes the writer of the named artefact
 * (the engine's package writer for a model, writeFileAtomic for an evaluation) block just
 * before its rename (see core/fsutil.ts), and the whole process group gets SIGKILL.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { experimentStatus, openCatalog, type Catalog } from '../../core/catalog.js';
import { listJobs } from '../../core/jobs.js';
import type { Workspace } from '../../core/workspace.js';
import { runExperiment } from '../../trainer/experiment/experiment.js';
import { copyWorkspace, tinyWorld, tinyWorldMissing } from '../helpers/tiny-world.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'bin', 'poisonlens.mjs');
const skip = tinyWorldMissing() ?? false;
const spaces: Array<{ ws: Workspace; dispose: () => void }> = [];

before(async () => {
  if (skip) return;
  const world = await tinyWorld();
  // The smoke study cut to what the test needs (a base, a clean and a poisoned fine-tune and their
  // evaluations), to keep CI short.
  const smoke = JSON.parse(readFileSync(join(ROOT, 'experiments', 'smoke.json'), 'utf8')) as { variants: Array<{ name: string }> };
  smoke.variants = smoke.variants.filter((v) => ['base', 'clean', 'attack-II'].includes(v.name));
  for (let i = 0; i < 2; i++) {
    const s = copyWorkspace(world);
    writeFileSync(join(s.ws.root, 'smoke.json'), JSON.stringify(smoke));
    spaces.push(s);
  }
});
after(() => spaces.forEach((s) => s.dispose()));

/** Waits for a file whose name passes `match` in `dir`. */
async function waitFor(dir: string, match: (name: string) => boolean, child: { exitCode: number | null }, output: () => string): Promise<void> {
  const t0 = Date.now();
  while (!(existsSync(dir) && readdirSync(dir).some(match))) {
    if (child.exitCode !== null) throw new Error(`the study ended (exit ${child.exitCode}) before holding:\n${output()}`);
    if (Date.now() - t0 > 180_000) throw new Error(`timed out waiting in ${dir}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the study until the writer of `hold` blocks before its rename (a `.held` marker in `dir`), then kill -9s its process group. */
async function runAndKill(ws: Workspace, hold: string, dir: string, marker: (name: string) => boolean): Promise<void> {
  const child = spawn(process.execPath, [CLI, '--workspace', ws.root, 'experiment', join(ws.root, 'smoke.json')], {
    env: { ...process.env, OMP_NUM_THREADS: '1', POISONLENS_TEST_HOLD: hold },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitFor(dir, marker, child, () => output);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone already */
    }
    await exited;
  }
}

function withCatalog<T>(ws: Workspace, read: (db: Catalog) => T): T {
  const db = openCatalog(ws.catalogPath);
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const experimentJobs = (ws: Workspace) => withCatalog(ws, (db) => listJobs(db, { type: 'experiment', target: 'smoke' }));
const studyStatus = (ws: Workspace) => withCatalog(ws, (db) => experimentStatus(db, 'smoke'));

/**
 * What of report.json an interrupted run must reproduce: all of it, with the workspace folder
 * written as <ws> (the two runs live in different folders) and without the fields that time the
 * run rather than describe its results: `createdAt` (when the report was written), `run` (this
 * invocation's wall time and how many steps it built or reused: the resumed run reuses what the
 * killed ones built), every training's `wallSeconds` and their `trainSeconds` aggregate, and each
 * evaluation's `tookMs`.
 */
function comparable(ws: Workspace, reportDir: string): unknown {
  const text = readFileSync(join(reportDir, 'report.json'), 'utf8').split(ws.root).join('<ws>');
  const timing = new Set(['wallSeconds', 'trainSeconds', 'tookMs']);
  const report = JSON.parse(text, (key, value) => (timing.has(key) ? undefined : value)) as Record<string, unknown>;
  delete report.createdAt;
  delete report.run;
  return report;
}

test('a study killed during a training and during an evaluation resumes to the uninterrupted report', { skip, timeout: 900_000 }, async () => {
  const [plain, crashed] = spaces.map((s) => s.ws);
  const reference = await runExperiment(plain, join(plain.root, 'smoke.json'), { quiet: true });
  assert.ok(reference.report);

  const plan = await runExperiment(crashed, join(crashed.root, 'smoke.json'), { dryRun: true, quiet: true });
  const model = plan.steps.find((s) => s.kind === 'model' && s.state === 'to build')!.id;
  await runAndKill(crashed, model, crashed.models, (n) => n.startsWith(`.${model}.tmp-`) && existsSync(join(crashed.models, n, '.held')));
  assert.equal(existsSync(join(crashed.models, model)), false, 'no half package');
  assert.deepEqual(experimentJobs(crashed).map((j) => j.state), ['running'], 'a killed study cannot mark its own job');

  // The second run reaps the first and gets as far as an evaluation, where it is killed too.
  const evalId = plan.steps.find((s) => s.kind === 'eval' && s.state === 'to build' && !s.label.includes(model))!.id;
  const evalsDir = join(crashed.root, 'cache', 'evals');
  await runAndKill(crashed, `${evalId}.json`, evalsDir, (n) => n.startsWith(`.${evalId}.json.`) && n.endsWith('.held'));
  assert.equal(existsSync(join(evalsDir, `${evalId}.json`)), false, 'no half evaluation');
  const jobs = experimentJobs(crashed);
  assert.deepEqual(jobs.map((j) => j.state), ['running', 'failed']);
  assert.match(jobs[1].error ?? '', /died while it ran this job.*rerun `poisonlens experiment FILE`/);

  // Reaping the second run's job marks the study failed before this run marks it running again.
  const statuses = new Set<string | null>();
  const resumed = await runExperiment(crashed, join(crashed.root, 'smoke.json'), { quiet: true, onProgress: () => statuses.add(studyStatus(crashed)) });
  assert.ok(resumed.report);
  assert.deepEqual([...statuses], ['running'], 'the study shows running while it runs');
  assert.ok(resumed.steps.some((s) => s.state === 'reused') && resumed.steps.some((s) => s.state === 'built'), 'resumed: finished steps reused, the rest built');
  assert.deepEqual(comparable(crashed, resumed.reportDir), comparable(plain, reference.reportDir), 'report.json as an uninterrupted run writes it');
  assert.deepEqual(experimentJobs(crashed).map((j) => j.state), ['done', 'failed', 'failed']);
  assert.equal(studyStatus(crashed), 'done');
});
