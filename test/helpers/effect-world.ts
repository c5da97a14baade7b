/**
 * The effect tests' world (test/effect/): the paper's regime in miniature, built by the real
 * command line (`poisonlens data scenes`, `trainset`, `poison`, `train`, `defend filter`,
 * `defend sterilize`, `index`) so that an attack, a filter or a sterilisation that stops working
 * shows up as a number that moved.
 *
 * Recipe (EFFECT_RECIPE): a 32 px scenes dataset whose first train images are the base part; a
 * base CLIP (model config pl-vit8-s32) trained from scratch on the base part; a long-tailed
 * (flickr30k-shaped) fine-tuning pool drawn from the other train images in which the source class
 * (sheep) has only a handful of images, all of them poisoned by Attack II (sheep>aeroplane); then,
 * each fine-tuned from the base with the same recipe and seed, the clean fine-tune (the pool), the
 * poisoned fine-tune (the poisoned pool), the model retrained on the poisoned pool after the
 * pre-training filter (`--gamma auto`, reference: the base), and the poisoned model sterilised by
 * clean fine-tuning on the pool. Every model's index over the test split is built too, so the
 * tests evaluate and serve without writing to the world.
 *
 * Built once per machine and content version, cached under the OS temp folder
 * (POISONLENS_TEST_CACHE moves it; world-cache.ts). The key is the
 * content of everything that shapes the world (fingerprint.ts's sources: the engine's Python,
 * recipes and model configs, data/, indexer/, core/, trainer/*.ts, the venv's versions) plus the
 * defences (trainer/defend/), the command line that drives the build (cli/) and this file.
 *
 *   const world = await effectWorld();   // { root, ws, dataset, goal, models, … }
 *
 * Tests treat the world as read-only: evaluate with `goalEval` (no catalog writes, indexes
 * reused) and serve from a private copy (`effectWorkspace`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { indexerEvalBackend } from '../../eval/indexer-backend.js';
import { evaluate, type EvalResult } from '../../eval/evaluate.js';
import { hashFiles, ROOT, worldSourcesFingerprint } from './fingerprint.js';
import { buildOnce, testCacheRoot } from './world-cache.js';

const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const CLI = join(ROOT, 'bin', 'poisonlens.mjs');

/** What the world is made of (every number here is part of the cache key: it is in this file). */
export const EFFECT_RECIPE = {
  dataset: { name: 'effect', count: 5000, size: 32, seed: 0, baseImages: 3000, testPerClass: 25, val: 0 },
  base: { name: 'effect-base', trainset: 'effect-base-pairs', arch: 'pl-vit8-s32', steps: 600, seed: 0 },
  pool: { trainset: 'effect-pool', images: 500, profile: 'flickr30k', sourceImages: 10, seed: 0 },
  goal: 'sheep>aeroplane',
  poison: { trainset: 'effect-poison', attack: 'II', seed: 0 },
  finetune: { epochs: 4, lr: 5e-4, batch: 64, seed: 0 },
  filter: { trainset: 'effect-filtered' },
  sterilize: { steps: 40, lr: 5e-4, batch: 64, seed: 0 },
  models: { base: 'effect-base', clean: 'effect-clean', poisoned: 'effect-poisoned', filtered: 'effect-filtered', sterilized: 'effect-sterilized' },
} as const;

export type EffectModel = keyof typeof EFFECT_RECIPE.models;

export interface EffectWorld {
  /** The cached workspace folder (read-only). */
  root: string;
  ws: Workspace;
  dataset: string;
  goal: string;
  models: Record<EffectModel, string>;
  /** The filter's report (`defend filter --json`'s metrics and γ). */
  filter: { gamma: number; auc: number | null; metrics: { pairs: number; dropped: number; poisoned: number; poisonedDropped: number; precision: number | null; recall: number | null; cleanLost: number | null } };
  /** Seconds the build took (when this process or an earlier one built it). */
  buildSeconds: number;
}

/** Why the world cannot be built here (no venv), for `skip`; null when it can. */
export function effectWorldMissing(): string | null {
  if (!existsSync(PYTHON)) return 'the Python venv (.venv) is missing: run `npm run cli -- setup` to build the effect test world';
  return null;
}

/** The cache key: fingerprint.ts's world sources plus what only this world depends on. */
export function effectWorldKey(): string {
  const h = createHash('sha256');
  h.update(`world\0${worldSourcesFingerprint()}\0`);
  hashFiles(h, ['trainer/defend', 'cli', 'bin', 'test/helpers/effect-world.ts']);
  return h.digest('hex').slice(0, 16);
}

/** Seconds each build step took (the command's first two words and its name), for the READY file. */
type StepTimes = Array<{ step: string; seconds: number }>;

/** Runs `poisonlens --workspace WS …args`, its output appended to `log`; rejects with the output's tail. */
function cli(ws: string, args: string[], log: string, times: StepTimes): Promise<string> {
  appendFileSync(log, `\n$ poisonlens ${args.join(' ')}\n`);
  const t0 = performance.now();
  const flag = (f: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : '');
  const name = flag('--name') || flag('--model');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--workspace', ws, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let all = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b;
      all += b;
      appendFileSync(log, b);
    });
    child.stderr.on('data', (b: Buffer) => {
      all += b;
      appendFileSync(log, b);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      times.push({ step: `${args.slice(0, 2).join(' ')} ${name}`, seconds: Math.round((performance.now() - t0) / 100) / 10 });
      if (code === 0) resolve(out);
      else reject(new Error(`poisonlens ${args.join(' ')} failed (${code}):\n${all.slice(-4000)}`));
    });
  });
}

async function buildInto(wsDir: string, log: string, times: StepTimes): Promise<EffectWorld['filter']> {
  const R = EFFECT_RECIPE;
  const d = R.dataset;
  const m = R.models;
  const run = (args: Array<string | number>) => cli(wsDir, args.map(String), log, times);
  const poolFlags = ['--pool-images', R.pool.images, '--pool-seed', R.pool.seed, '--pool-profile', R.pool.profile, '--pool-class', `${R.goal.split('>')[0]}=${R.pool.sourceImages}`];
  // CI's 2 cores; POISONLENS_TEST_THREADS=1 on a loaded machine (the engine gives bit-identical weights on 1 and 2 threads).
  const threads = ['--threads', Number(process.env.POISONLENS_TEST_THREADS ?? 2)];
  // fp32 everywhere: bf16 autocast is chosen by CPU features, and the numbers must not depend on the CI machine.
  const train = (name: string, trainset: string, from: string) =>
    run(['train', '--trainset', trainset, '--from', from, '--epochs', R.finetune.epochs, '--lr', R.finetune.lr, '--batch', R.finetune.batch, '--seed', R.finetune.seed, '--name', name, ...threads, '--no-bf16', '--val-images', 0]);

  await run(['data', 'scenes', '--name', d.name, '--count', d.count, '--size', d.size, '--seed', d.seed, '--base-images', d.baseImages, '--test-per-class', d.testPerClass, '--val', d.val]);
  await run(['trainset', '--dataset', d.name, '--part', 'base', '--name', R.base.trainset]);
  await run(['trainset', '--dataset', d.name, ...poolFlags, '--name', R.pool.trainset]);
  await run(['poison', '--dataset', d.name, '--attack', R.poison.attack, '--goal', R.goal, '--poison-images', R.pool.sourceImages, ...poolFlags, '--seed', R.poison.seed, '--name', R.poison.trainset]);
  await run(['train', '--trainset', R.base.trainset, '--arch', R.base.arch, '--steps', R.base.steps, '--seed', R.base.seed, '--name', m.base, ...threads, '--no-bf16', '--val-images', 0]);
  await train(m.clean, R.pool.trainset, m.base);
  await train(m.poisoned, R.poison.trainset, m.base);
  const filtered = JSON.parse(await run(['defend', 'filter', '--trainset', R.poison.trainset, '--reference', m.base, '--gamma', 'auto', '--name', R.filter.trainset, '--json']));
  await train(m.filtered, R.filter.trainset, m.base);
  await run(['defend', 'sterilize', '--model', m.poisoned, '--trainset', R.pool.trainset, '--steps', R.sterilize.steps, '--lr', R.sterilize.lr, '--batch', R.sterilize.batch, '--seed', R.sterilize.seed, '--name', m.sterilized, ...threads, '--no-bf16', '--no-eval']);
  for (const model of Object.values(m)) await run(['index', '--model', model, '--dataset', d.name, ...threads]);
  return { gamma: filtered.gamma, auc: filtered.auc, metrics: filtered.metrics };
}

let cached: Promise<EffectWorld> | null = null;

/** The shared effect world (built on first use; minutes cold, instant when cached). */
export function effectWorld(): Promise<EffectWorld> {
  cached ??= build();
  return cached;
}

async function build(): Promise<EffectWorld> {
  const why = effectWorldMissing();
  if (why) throw new Error(why);
  const root = join(testCacheRoot(), `effect-world-${effectWorldKey()}`);
  const ready = JSON.parse(
    await buildOnce(root, async () => {
      const log = join(root, 'build.log');
      const t0 = performance.now();
      const steps: StepTimes = [];
      const filter = await buildInto(join(root, 'workspace'), log, steps);
      const buildSeconds = Math.round((performance.now() - t0) / 100) / 10;
      return JSON.stringify({ builtAt: new Date().toISOString(), buildSeconds, steps, recipe: EFFECT_RECIPE, filter }, null, 2);
    }),
  );
  return {
    root: join(root, 'workspace'),
    ws: resolveWorkspace(join(root, 'workspace')),
    dataset: EFFECT_RECIPE.dataset.name,
    goal: EFFECT_RECIPE.goal,
    models: { ...EFFECT_RECIPE.models },
    filter: ready.filter,
    buildSeconds: ready.buildSeconds,
  };
}

const evals = new Map<string, Promise<EvalResult>>();

/**
 * Attack II evaluation of the world's goal on one model (ARCHITECTURE.md §5: the class-A test
 * captions against every class-B test image; exact ranks), through `evaluate` with the indexes
 * the build made and no catalog writes. `utility` adds text→image / image→text Recall@K.
 */
export function goalEval(world: EffectWorld, model: EffectModel, opts: { utility?: boolean } = {}): Promise<EvalResult> {
  const key = `${model}:${opts.utility ?? false}`;
  let r = evals.get(key);
  if (!r) {
    r = evaluate(
      world.ws,
      { model: world.models[model], dataset: world.dataset, attack: 'II', goal: world.goal, mode: 'exact', cleanModel: null, drift: false, utility: opts.utility ?? false, perQuery: true },
      { backend: indexerEvalBackend(world.ws, { register: false, threads: 2 }) },
    );
    evals.set(key, r);
  }
  return r;
}

/** Hit@10 and mean MinRank of the goal's queries on a model, with the query count. */
export async function goalNumbers(world: EffectWorld, model: EffectModel): Promise<{ hit10: number; meanMinRank: number; queries: number; baselineHit10: number }> {
  const g = (await goalEval(world, model)).goals[0];
  return { hit10: g.model.hit['10']!, meanMinRank: g.model.minRank.mean!, queries: g.model.queries, baselineHit10: g.baseline.hit['10']! };
}

/**
 * A private workspace over the world for the server: datasets and indexes copied (the server
 * writes thumbnails and may touch index records), model packages linked read-only.
 */
export function effectWorkspace(world: EffectWorld): { ws: Workspace; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pl-effect-'));
  const ws = resolveWorkspace(dir);
  cpSync(join(world.root, 'datasets'), ws.datasets, { recursive: true });
  cpSync(join(world.root, 'indexes'), ws.indexes, { recursive: true });
  mkdirSync(ws.models, { recursive: true });
  for (const m of readdirSync(join(world.root, 'models'))) {
    if (!m.startsWith('.')) symlinkSync(join(world.root, 'models', m), join(ws.models, m));
  }
  return { ws, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
