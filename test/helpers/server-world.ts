/**
 * The search server's test world: the shared tiny world (tiny-world.ts: a small dataset and a
 * base model trained by the real engine) plus two models fine-tuned from that base by the real
 * engine — a clean one on the clean training set and a poisoned one on an Attack II
 * (sheep>aeroplane) training set built by the real poisoning code — and each model's HNSW
 * index over the test split, built by the real indexer. Built once per machine and
 * source version (the tiny world's key: the content of every file that shapes either world,
 * fingerprint.ts) under the OS temp folder (a lock folder keeps concurrent test files from
 * building it twice); each test takes a private workspace with `serverWorkspace()`.
 *
 *   const world = await serverWorld();
 *   const { ws, dispose } = serverWorkspace(world);
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { buildPoisonedTrainset } from '../../data/poison/poisoned-trainset.js';
import { ensureIndex } from '../../indexer/index-build.js';
import { worldSourcesFingerprint } from './fingerprint.js';
import { tinyWorld, tinyWorldMissing } from './tiny-world.js';
import { buildOnce, testCacheRoot } from './world-cache.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const ENGINE_DIR = join(ROOT, 'trainer', 'engine');

export interface ServerWorld {
  /** The cached, read-only workspace (copy it with serverWorkspace before writing). */
  root: string;
  dataset: string;
  base: string;
  clean: string;
  poisoned: string;
  /** The poisoned model's attack goal. */
  goal: string;
}

export const serverWorldMissing = tinyWorldMissing;

function fineTune(ws: Workspace, from: string, trainset: string, out: string): void {
  const r = spawnSync(
    PYTHON,
    ['-m', 'poisonlens_engine.main', '--from', join(ws.models, from), '--trainset', join(ws.trainsets, trainset), '--out', join(ws.models, out),
      '--steps', '2', '--batch', '8', '--val-images', '0', '--threads', '1', '--seed', '0', '--no-bf16'],
    { cwd: ENGINE_DIR, encoding: 'utf8', env: { ...process.env, PYTHONPATH: ENGINE_DIR, OMP_NUM_THREADS: '1' }, maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(`fine-tuning ${out} from ${from} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
}

let cached: Promise<ServerWorld> | null = null;

export function serverWorld(): Promise<ServerWorld> {
  cached ??= build();
  return cached;
}

async function build(): Promise<ServerWorld> {
  const tiny = await tinyWorld();
  // The same key as the tiny world's: it covers this file, the poisoning code, the engine and the indexer.
  const root = join(testCacheRoot(), `server-world-${worldSourcesFingerprint()}`);
  const world: ServerWorld = { root: join(root, 'workspace'), dataset: tiny.dataset, base: tiny.model, clean: 'tiny-clean', poisoned: 'tiny-poisoned', goal: 'sheep>aeroplane' };
  await buildOnce(root, async () => {
    const ws = resolveWorkspace(world.root);
    cpSync(tiny.ws.datasets, ws.datasets, { recursive: true });
    cpSync(join(tiny.ws.root, 'trainsets'), ws.trainsets, { recursive: true });
    cpSync(tiny.ws.models, ws.models, { recursive: true });
    await buildPoisonedTrainset(ws, {
      dataset: tiny.dataset,
      attack: 'II',
      goal: world.goal,
      budget: { images: 2 },
      seed: 0,
      name: 'tiny-poison',
      register: false,
      quiet: true,
    });
    fineTune(ws, world.base, tiny.trainset, world.clean);
    fineTune(ws, world.base, 'tiny-poison', world.poisoned);
    for (const model of [world.base, world.clean, world.poisoned]) {
      await ensureIndex(ws, { model, dataset: world.dataset, split: 'test', threads: 1 });
    }
    return new Date().toISOString();
  });
  return world;
}

/**
 * A private workspace over the world: datasets, training sets and indexes copied (tests may
 * change them), model packages linked read-only, caches empty. `indexes: false` leaves the
 * indexes out (the server must build them).
 */
export function serverWorkspace(world: ServerWorld, opts: { indexes?: boolean } = {}): { ws: Workspace; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pl-srv-'));
  const ws = resolveWorkspace(dir);
  cpSync(join(world.root, 'datasets'), ws.datasets, { recursive: true });
  cpSync(join(world.root, 'trainsets'), ws.trainsets, { recursive: true });
  if (opts.indexes ?? true) cpSync(join(world.root, 'indexes'), ws.indexes, { recursive: true });
  mkdirSync(ws.models, { recursive: true });
  for (const m of readdirSync(join(world.root, 'models'))) {
    if (!m.startsWith('.')) symlinkSync(join(world.root, 'models', m), join(ws.models, m));
  }
  return { ws, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
