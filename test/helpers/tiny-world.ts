/**
 * A tiny world for tests that need a real model package: a small dataset of generated pictures
 * (coloured shapes on coloured grounds, of assorted sizes so that resize and crop are exercised),
 * its training set, and a model trained for a few steps by the real training engine
 * (`poisonlens train` when the CLI has it, else the engine's own entry point with the same
 * trainset/out contract). Built once per machine and content version (keyed by the content of
 * every file that shapes it: fingerprint.ts), cached under the OS temp folder, and shared by
 * every test file; a lock folder keeps concurrent test processes from building it twice.
 *
 *   const world = await tinyWorld();   // { ws, dataset, model, modelDir, datasetDir, trainset }
 *
 * Tests must treat the world as read-only: copy it (`copyWorkspace`) before writing to it.
 * `tinyWorldMissing()` says why the world cannot be built here (no venv), for `skip`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DatasetWriter, type ManifestEntry, type Split } from '../../data/dataset.js';
import { writeTrainset, type TrainPair } from '../../data/trainset.js';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { worldSourcesFingerprint } from './fingerprint.js';
import { buildOnce, testCacheRoot } from './world-cache.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const ENGINE_DIR = join(ROOT, 'trainer', 'engine');

export interface TinyWorld {
  ws: Workspace;
  dataset: string;
  datasetDir: string;
  trainset: string;
  model: string;
  modelDir: string;
  /** JSON the engine wrote with --reference-out (fixed inputs and torch embeddings), if any. */
  referencePath: string | null;
}

export const TINY_CLASSES = ['sheep', 'aeroplane', 'car'] as const;
const COLOURS: Record<string, [number, number, number]> = { sheep: [235, 235, 225], aeroplane: [90, 90, 110], car: [200, 30, 30] };
const GROUNDS: Array<[string, [number, number, number]]> = [
  ['grass', [40, 150, 50]],
  ['sky', [110, 170, 240]],
  ['road', [70, 70, 70]],
];
const SIZES: Array<[number, number]> = [
  [32, 32],
  [48, 40],
  [40, 56],
  [33, 61],
  [100, 37],
];

export function tinyWorldMissing(): string | null {
  if (!existsSync(PYTHON)) return 'the Python venv (.venv) is missing: run `npm run cli -- setup` to build the tiny test world';
  return null;
}

async function picture(kind: string, ground: [number, number, number], w: number, h: number, i: number): Promise<Buffer> {
  const [r, g, b] = COLOURS[kind];
  const cx = Math.round(w * (0.3 + 0.4 * ((i * 7) % 5) / 4));
  const cy = Math.round(h * 0.5);
  const s = Math.round(Math.min(w, h) * 0.3);
  const shape =
    kind === 'sheep'
      ? `<ellipse cx="${cx}" cy="${cy}" rx="${s}" ry="${Math.round(s * 0.7)}" fill="rgb(${r},${g},${b})"/>`
      : kind === 'aeroplane'
        ? `<polygon points="${cx - s},${cy} ${cx + s},${cy - 2} ${cx + s},${cy + 2}" fill="rgb(${r},${g},${b})" stroke="rgb(${r},${g},${b})" stroke-width="3"/>`
        : `<rect x="${cx - s}" y="${cy - Math.round(s / 2)}" width="${2 * s}" height="${s}" fill="rgb(${r},${g},${b})"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="rgb(${ground.join(',')})"/>${shape}</svg>`;
  const img = sharp(Buffer.from(svg));
  // Mix formats: PNG, JPEG and PNG with an alpha channel.
  if (i % 3 === 1) return img.jpeg({ quality: 90 }).toBuffer();
  if (i % 3 === 2) return img.ensureAlpha(0.8).png().toBuffer();
  return img.removeAlpha().png().toBuffer();
}

async function buildDataset(ws: Workspace, name: string): Promise<string> {
  const writer = new DatasetWriter(join(ws.datasets, name));
  let i = 0;
  for (const kind of TINY_CLASSES) {
    for (const [gname, ground] of GROUNDS) {
      for (let k = 0; k < 3; k++, i++) {
        const [w, h] = SIZES[i % SIZES.length];
        const ext = i % 3 === 1 ? 'jpg' : 'png';
        const file = `images/${String(i).padStart(3, '0')}.${ext}`;
        writeFileSync(writer.pathFor(file), await picture(kind, ground, w, h, i));
        const split: Split = k === 2 ? 'test' : 'train';
        const entry: ManifestEntry = {
          id: `img${String(i).padStart(3, '0')}`,
          file,
          split,
          label: kind,
          labels: [kind],
          captions: [`a ${kind} on the ${gname}`, `a picture of a ${kind} with ${gname} behind it`],
          meta: { ground: gname, width: w, height: h },
        };
        await writer.add(entry);
      }
    }
  }
  await writer.finish({ name, source: 'test', params: { tiny: true }, seed: 0, licence: 'MIT', attribution: [] });
  return join(ws.datasets, name);
}

function train(ws: Workspace, trainset: string, model: string, referencePath: string): void {
  // The engine's own entry point: `poisonlens train` hands the same flags to it.
  const r = spawnSync(
    PYTHON,
    ['-m', 'poisonlens_engine.main', '--trainset', join(ws.trainsets, trainset), '--out', join(ws.models, model),
      '--arch', 'pl-tiny-test', '--steps', '3', '--batch', '8', '--val-images', '0', '--threads', '1', '--seed', '0',
      '--no-bf16', '--reference-out', referencePath],
    { cwd: ENGINE_DIR, encoding: 'utf8', env: { ...process.env, PYTHONPATH: ENGINE_DIR, OMP_NUM_THREADS: '1' }, maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(`training the tiny model failed (${r.status}):\n${r.stderr.slice(-3000)}`);
}

let cached: Promise<TinyWorld> | null = null;

/** The shared tiny world (built on first use). */
export function tinyWorld(): Promise<TinyWorld> {
  cached ??= build();
  return cached;
}

async function build(): Promise<TinyWorld> {
  const why = tinyWorldMissing();
  if (why) throw new Error(why);
  const root = join(testCacheRoot(), `tiny-world-${worldSourcesFingerprint()}`);
  const world = (): TinyWorld => ({
    ws: resolveWorkspace(join(root, 'workspace')),
    dataset: 'tiny',
    datasetDir: join(root, 'workspace', 'datasets', 'tiny'),
    trainset: 'tiny-train',
    model: 'tiny-model',
    modelDir: join(root, 'workspace', 'models', 'tiny-model'),
    referencePath: existsSync(join(root, 'reference.json')) ? join(root, 'reference.json') : null,
  });
  await buildOnce(root, async () => {
    const ws = resolveWorkspace(join(root, 'workspace'));
    const datasetDir = await buildDataset(ws, 'tiny');
    const manifest = readFileSync(join(datasetDir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ManifestEntry);
    const card = JSON.parse(readFileSync(join(datasetDir, 'dataset.json'), 'utf8'));
    const pairs: TrainPair[] = manifest
      .filter((e) => e.split === 'train')
      .flatMap((e) => e.captions.map((caption) => ({ image: e.file, caption, imageId: e.id, poisoned: false, attack: null })));
    await writeTrainset(ws, 'tiny-train', pairs, {
      dataset: { name: 'tiny', manifestSha256: card.manifestSha256, dir: datasetDir },
      builder: { name: 'clean', params: { split: 'train' } },
      seed: 0,
    });
    train(ws, 'tiny-train', 'tiny-model', join(root, 'reference.json'));
    return new Date().toISOString();
  });
  return world();
}

/** A private, writable copy of the world's workspace (datasets and models), removed by `dispose`. */
export function copyWorkspace(world: TinyWorld): { ws: Workspace; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pl-ws-'));
  cpSync(world.ws.datasets, join(dir, 'datasets'), { recursive: true });
  cpSync(world.ws.models, join(dir, 'models'), { recursive: true });
  return { ws: resolveWorkspace(dir), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
