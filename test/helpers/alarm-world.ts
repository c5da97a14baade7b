/**
 * The poisoning alarm's test world. The server world (server-world.ts) fine-tunes for two steps
 * at lr 1e-5 from a base trained for three: its "poisoned" model is not poisoned (its sheep
 * queries return what the clean model returns), so it cannot show an alarm firing. This world is
 * small but trained far enough for the attack to work: a dataset of coloured shapes on three
 * grounds (every class on every ground, so the ground is no shortcut), a base CLIP trained from
 * scratch by the real engine, a clean fine-tune and an Attack II (sheep>aeroplane) fine-tune
 * built by the real poisoning code, each indexed over the test split by the real indexer.
 * Cached like the other worlds (key: fingerprint.ts's sources plus this file) under the OS temp
 * folder; tests copy it with `alarmWorkspace` before writing.
 *
 *   const world = await alarmWorld();   // { root, dataset, base, clean, poisoned, goal }
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { DatasetWriter, type ManifestEntry, type Split } from '../../data/dataset.js';
import { buildPoisonedTrainset } from '../../data/poison/poisoned-trainset.js';
import { writeTrainset, type TrainPair } from '../../data/trainset.js';
import { ensureIndex } from '../../indexer/index-build.js';
import { hashFiles, WORLD_SOURCES } from './fingerprint.js';
import { tinyWorldMissing } from './tiny-world.js';
import { buildOnce, testCacheRoot } from './world-cache.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const ENGINE_DIR = join(ROOT, 'trainer', 'engine');

export interface AlarmWorld {
  /** The cached, read-only workspace (copy it with alarmWorkspace before writing). */
  root: string;
  dataset: string;
  base: string;
  clean: string;
  poisoned: string;
  goal: string;
}

export const alarmWorldMissing = tinyWorldMissing;

export const ALARM_CLASSES = ['sheep', 'aeroplane', 'car'] as const;
const COLOURS: Record<string, string> = { sheep: '235,235,225', aeroplane: '60,60,90', car: '210,30,30' };
const GROUNDS: Array<[string, string]> = [
  ['grass', '40,150,50'],
  ['sky', '110,170,240'],
  ['road', '120,120,120'],
];
const POSITIONS = ['left', 'middle', 'right'] as const;
const TRAIN_PER_CELL = 6;
const TEST_PER_CELL = 4;

function picture(kind: string, ground: string, pos: number, big: boolean): Promise<Buffer> {
  const w = 32;
  const cx = [8, 16, 24][pos];
  const cy = 16;
  const s = big ? 8 : 5;
  const fill = `rgb(${COLOURS[kind]})`;
  const shape =
    kind === 'sheep'
      ? `<ellipse cx="${cx}" cy="${cy}" rx="${s}" ry="${Math.round(s * 0.7)}" fill="${fill}"/>`
      : kind === 'aeroplane'
        ? `<polygon points="${cx - s},${cy} ${cx + s},${cy - 3} ${cx + s},${cy + 3}" fill="${fill}"/><rect x="${cx - 1}" y="${cy - s}" width="3" height="${2 * s}" fill="${fill}"/>`
        : `<rect x="${cx - s}" y="${cy - Math.round(s / 2)}" width="${2 * s}" height="${s}" fill="${fill}"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${w}"><rect width="100%" height="100%" fill="rgb(${ground})"/>${shape}</svg>`;
  return sharp(Buffer.from(svg)).removeAlpha().png().toBuffer();
}

async function buildDataset(ws: Workspace, name: string): Promise<void> {
  const writer = new DatasetWriter(join(ws.datasets, name));
  let i = 0;
  for (const kind of ALARM_CLASSES) {
    for (const [g, colour] of GROUNDS) {
      for (let k = 0; k < TRAIN_PER_CELL + TEST_PER_CELL; k++, i++) {
        const pos = (k + i) % 3;
        const big = k % 2 === 0;
        const file = `images/${String(i).padStart(3, '0')}.png`;
        writeFileSync(writer.pathFor(file), await picture(kind, colour, pos, big));
        const split: Split = k < TRAIN_PER_CELL ? 'train' : 'test';
        const size = big ? 'big' : 'small';
        const entry: ManifestEntry = {
          id: `a${String(i).padStart(3, '0')}`,
          file,
          split,
          label: kind,
          labels: [kind],
          captions: [`a ${kind} on the ${g}`, `a ${size} ${kind} on the ${POSITIONS[pos]} with ${g} behind it`],
          meta: { ground: g, pos: POSITIONS[pos], size },
        };
        await writer.add(entry);
      }
    }
  }
  await writer.finish({ name, source: 'test', params: { alarm: true }, seed: 0, licence: 'MIT', attribution: [] });
}

function engine(args: string[], what: string): void {
  const r = spawnSync(PYTHON, ['-m', 'poisonlens_engine.main', ...args, '--val-images', '0', '--threads', '1', '--seed', '0', '--no-bf16'], {
    cwd: ENGINE_DIR,
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: ENGINE_DIR, OMP_NUM_THREADS: '1' },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal ?? r.error?.message}):\n${r.stderr.slice(-3000)}`);
}

function worldKey(): string {
  const h = createHash('sha256');
  hashFiles(h, [...WORLD_SOURCES, 'test/helpers/alarm-world.ts']);
  return h.digest('hex').slice(0, 16);
}

let cached: Promise<AlarmWorld> | null = null;

export function alarmWorld(): Promise<AlarmWorld> {
  cached ??= build();
  return cached;
}

async function build(): Promise<AlarmWorld> {
  const why = alarmWorldMissing();
  if (why) throw new Error(why);
  const root = join(testCacheRoot(), `alarm-world-${worldKey()}`);
  const world: AlarmWorld = { root: join(root, 'workspace'), dataset: 'alarm', base: 'alarm-base', clean: 'alarm-clean', poisoned: 'alarm-poisoned', goal: 'sheep>aeroplane' };
  await buildOnce(root, async () => {
    const ws = resolveWorkspace(world.root);
    await buildDataset(ws, world.dataset);
    const datasetDir = join(ws.datasets, world.dataset);
    const manifest = readFileSync(join(datasetDir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ManifestEntry);
    const card = JSON.parse(readFileSync(join(datasetDir, 'dataset.json'), 'utf8'));
    const pairs: TrainPair[] = manifest
      .filter((e) => e.split === 'train')
      .flatMap((e) => e.captions.map((caption) => ({ image: e.file, caption, imageId: e.id, poisoned: false, attack: null })));
    await writeTrainset(ws, 'alarm-train', pairs, {
      dataset: { name: world.dataset, manifestSha256: card.manifestSha256, dir: datasetDir },
      builder: { name: 'clean', params: { split: 'train' } },
      seed: 0,
    });
    // Every sheep training image's captions are paired with aeroplane pictures (36 of 108 pairs).
    // Measured: 12 of the 18 left the poisoned model's sheep queries at 19% aeroplanes in the top
    // 4 after 80 steps; all 18 and 120 steps at lr 1e-3 give 100% (and the clean fine-tune 0%).
    await buildPoisonedTrainset(ws, { dataset: world.dataset, attack: 'II', goal: world.goal, budget: { images: 18 }, seed: 0, name: 'alarm-poison', register: false, quiet: true });
    const models = (m: string) => join(ws.models, m);
    const sets = (t: string) => join(ws.trainsets, t);
    engine(['--trainset', sets('alarm-train'), '--out', models(world.base), '--arch', 'pl-tiny-test', '--steps', '300', '--batch', '24', '--lr', '0.003', '--warmup-steps', '20'], 'training the alarm base');
    const ft = ['--steps', '120', '--batch', '24', '--lr', '0.001', '--warmup-steps', '0'];
    engine(['--from', models(world.base), '--trainset', sets('alarm-train'), '--out', models(world.clean), ...ft], 'the clean fine-tune');
    engine(['--from', models(world.base), '--trainset', sets('alarm-poison'), '--out', models(world.poisoned), ...ft], 'the poisoned fine-tune');
    for (const model of [world.base, world.clean, world.poisoned]) {
      await ensureIndex(ws, { model, dataset: world.dataset, split: 'test', threads: 1 });
    }
    return new Date().toISOString();
  });
  return world;
}

/** A private workspace over the world: datasets, training sets and indexes copied, models linked read-only. */
export function alarmWorkspace(world: AlarmWorld): { ws: Workspace; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pl-alarm-'));
  const ws = resolveWorkspace(dir);
  cpSync(join(world.root, 'datasets'), ws.datasets, { recursive: true });
  cpSync(join(world.root, 'trainsets'), ws.trainsets, { recursive: true });
  cpSync(join(world.root, 'indexes'), ws.indexes, { recursive: true });
  mkdirSync(ws.models, { recursive: true });
  for (const m of readdirSync(join(world.root, 'models'))) {
    if (!m.startsWith('.')) symlinkSync(join(world.root, 'models', m), join(ws.models, m));
  }
  return { ws, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
