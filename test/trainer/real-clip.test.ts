/**
 * The real-CLIP path end to end, as a researcher with a real checkpoint would take it, without
 * downloading anything: a random-weight ViT-B-32 made with open_clip.create_model and saved in
 * open_clip's own file format (a state_dict .pt, what `pretrained=FILE` loads) → `train --arch
 * ViT-B-32 --pretrained FILE` for 2 steps → ONNX export (checked against torch by the engine) →
 * Node loads the package → `index` embeds 20 test images at 224 px with onnxruntime on 2 intra-op
 * threads → text and image search through the real app. Needs the Python venv; skipped without it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import sharp from 'sharp';
import { main } from '../../cli/main.js';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { DatasetWriter, type Split } from '../../data/dataset.js';
import { readModelPackage } from '../../indexer/package.js';
import { createApp } from '../../server/app.js';
import { indexerRuntime } from '../../server/repositories/indexer-runtime-repository.js';
import { ENGINE_DIR, VENV_PYTHON } from '../../trainer/setup.js';

const skip = existsSync(VENV_PYTHON) ? false : 'the Python venv (.venv) is missing: run `poisonlens setup`';
let dir: string;
let ws: Workspace;

const SHAPES: Array<[string, string]> = [['red', '#c22'], ['green', '#2a4'], ['blue', '#23c'], ['yellow', '#dc3'], ['white', '#eee']];

/** 28 photo-sized images (256×192, so the 224 px resize and centre crop do real work): 20 test, 8 train. */
async function buildDataset(): Promise<void> {
  const writer = new DatasetWriter(join(ws.datasets, 'photos'));
  for (let i = 0; i < 28; i++) {
    const [name, colour] = SHAPES[i % SHAPES.length];
    const round = i % 2 === 0;
    const x = 30 + ((i * 37) % 140);
    const shape = round ? `<circle cx="${x + 40}" cy="96" r="40" fill="${colour}"/>` : `<rect x="${x}" y="50" width="80" height="90" fill="${colour}"/>`;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="192"><rect width="256" height="192" fill="#${(i * 611 + 0x303030).toString(16).slice(-6)}"/>${shape}</svg>`;
    const file = `images/${String(i).padStart(3, '0')}.jpg`;
    writeFileSync(writer.pathFor(file), await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer());
    const split: Split = i < 20 ? 'test' : 'train';
    const what = round ? 'circle' : 'square';
    await writer.add({
      id: `p${String(i).padStart(3, '0')}`, file, split, label: name, labels: [name],
      captions: [`a ${name} ${what} on a coloured background`, `photo of a ${name} ${what}`], meta: {},
    });
  }
  await writer.finish({ name: 'photos', source: 'test', params: {}, seed: 0, licence: 'MIT', attribution: [] });
}

async function cli(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['--workspace', dir, ...args]);
    return { code, stderr: err.join('\n'), stdout: out.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    process.stderr.write = write;
  }
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'pl-real-clip-'));
  ws = resolveWorkspace(dir);
  await buildDataset();
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('ViT-B-32 from an open_clip weights file: train 2 steps, export, index 20 images at 224 px, search', { skip, timeout: 900_000 }, async () => {
  const t0 = performance.now();
  const weights = join(dir, 'vit-b-32-random.pt');
  // open_clip's own format: the model's state_dict, saved with torch.save (as its released
  // checkpoints are); create_model(..., pretrained=FILE) loads it. Random weights, seeded.
  const make = spawnSync(VENV_PYTHON, ['-c', [
    'import sys, torch',
    'from poisonlens_engine.compat import import_open_clip',
    'oc = import_open_clip()',
    'torch.manual_seed(0)',
    "m = oc.create_model('ViT-B-32')",
    'torch.save(m.state_dict(), sys.argv[1])',
  ].join('\n'), weights], { cwd: ENGINE_DIR, env: { ...process.env, PYTHONPATH: ENGINE_DIR }, encoding: 'utf8' });
  assert.equal(make.status, 0, make.stderr);

  assert.equal((await cli('trainset', '--dataset', 'photos', '--split', 'train', '--name', 'photos-train')).code, 0);
  const tr = await cli('train', '--trainset', 'photos-train', '--arch', 'ViT-B-32', '--pretrained', weights, '--steps', '2', '--batch', '4',
    '--threads', '2', '--val-images', '0', '--name', 'vit', '--device', 'cpu');
  assert.equal(tr.code, 0, tr.stderr);
  const tTrain = performance.now();
  const pkg = readModelPackage(join(ws.models, 'vit'));
  assert.equal(pkg.card.arch, 'ViT-B-32');
  assert.equal(pkg.card.kind, 'clean');
  assert.equal(pkg.card.parent, `open_clip:ViT-B-32:${weights}`);
  assert.equal(pkg.card.image.size, 224);
  assert.equal(pkg.card.embedDim, 512);
  assert.equal(pkg.card.text.contextLength, 77);
  const cfg = (pkg.card.trainer as { config: Record<string, unknown> }).config;
  assert.deepEqual([cfg.device, cfg.worldSize, cfg.mode], ['cpu', 1, 'pretrained']);

  const ix = await cli('index', '--model', 'vit', '--dataset', 'photos', '--split', 'test', '--threads', '2', '--json');
  assert.equal(ix.code, 0, ix.stderr);
  const card = (JSON.parse(ix.stdout) as { card: { count: number; dim: number; build: { threads: number; imagesPerSecond: number } } }).card;
  assert.equal(card.count, 20);
  assert.equal(card.dim, 512);
  assert.ok(card.build.threads > 1, `onnxruntime intra-op threads: ${card.build.threads}`);
  const tIndex = performance.now();

  const pl = createApp({
    workspace: ws,
    runtime: indexerRuntime(ws, { threads: 2 }),
    config: { adminToken: 'test-admin-token-0123456789abcdef', activeModel: 'vit', defaultDataset: 'photos' },
    log: () => undefined,
  });
  await pl.ready();
  try {
    const agent = request(pl.app);
    const text = await agent.get('/api/search').query({ q: 'a red circle', k: 5, model: 'vit', dataset: 'photos' });
    assert.equal(text.status, 200, text.text);
    assert.equal(text.body.model, 'vit');
    assert.equal(text.body.results.length, 5);
    assert.ok(text.body.results.every((r: { score: number }) => Number.isFinite(r.score)));
    // Image search with a gallery image: with the same preprocessing it finds itself first.
    const own = readFileSync(join(ws.datasets, 'photos', 'images', '007.jpg'));
    const img = await agent.post('/api/search/image').query({ k: 3, model: 'vit', dataset: 'photos' }).set('Content-Type', 'image/jpeg').send(own);
    assert.equal(img.status, 200, img.text);
    assert.equal(img.body.results[0].imageId, 'p007');
    assert.ok(img.body.results[0].score > 0.99, String(img.body.results[0].score));
  } finally {
    await pl.close();
  }
  const tEnd = performance.now();
  console.log(`real-CLIP path: train+export ${((tTrain - t0) / 1000).toFixed(1)}s, index ${((tIndex - tTrain) / 1000).toFixed(1)}s ` +
    `(${card.build.imagesPerSecond} images/s, ${card.build.threads} threads), search ${((tEnd - tIndex) / 1000).toFixed(1)}s`);
});
