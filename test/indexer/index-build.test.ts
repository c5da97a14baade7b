import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { indexBuildRecord, openCatalog } from '../../core/catalog.js';
import { sha256 } from '../../core/fsutil.js';
import type { Workspace } from '../../core/workspace.js';
import { ensureIndex, indexDir } from '../../indexer/index-build.js';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { readNpy } from '../../indexer/npy.js';
import { main } from '../../cli/main.js';
import { copyWorkspace, tinyWorld, tinyWorldMissing } from '../helpers/tiny-world.js';

const skip = tinyWorldMissing() ?? false;
let ws: Workspace;
let dispose = () => {};

before(async () => {
  if (skip) return;
  ({ ws, dispose } = copyWorkspace(await tinyWorld()));
});
after(() => dispose());

/** Runs the CLI in-process; returns exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['--workspace', ws.root, ...args]);
    return { code, out: out.join('\n'), err: err.join('') };
  } finally {
    console.log = log;
    console.error = error;
    process.stderr.write = write;
  }
}

test('index: built once, reused while model and manifest match, recorded in the catalog', { skip }, async () => {
  const first = await cli('index', '--model', 'tiny-model', '--dataset', 'tiny', '--split', 'test', '--json');
  assert.equal(first.code, 0, first.err);
  const r1 = JSON.parse(first.out);
  assert.equal(r1.built, true);
  assert.equal(r1.dir, indexDir(ws, 'tiny-model', 'tiny', 'test'));
  assert.equal(r1.card.count, 9);
  assert.equal(r1.card.dim, 32);
  assert.equal(r1.card.dataset.split, 'test');
  assert.deepEqual([r1.card.hnsw.m, r1.card.hnsw.efConstruction, r1.card.hnsw.efSearch], [16, 200, 64]);
  assert.match(first.err, /embedding .*img\/s/, 'a progress bar with images/s');
  assert.equal(r1.card.build.encoder, 'worker', 'the image graph ran in a worker thread, pipelined with decoding');
  const ids = JSON.parse(readFileSync(join(r1.dir, 'ids.json'), 'utf8')) as string[];
  assert.deepEqual(ids, [...ids].sort(), 'rows are in ascending id order');

  const second = await cli('index', '--model', 'tiny-model', '--dataset', 'tiny', '--json');
  const r2 = JSON.parse(second.out);
  assert.equal(r2.built, false);
  assert.match(r2.reason, /reused/);
  assert.equal(r2.card.createdAt, r1.card.createdAt);

  const db = openCatalog(ws.catalogPath);
  try {
    const row = indexBuildRecord(db, 'tiny-model', 'tiny', 'test')!;
    assert.equal(row.count, 9);
    assert.equal(row.path, r1.dir);
    assert.equal(row.manifestSha256, r1.card.dataset.manifestSha256);
  } finally {
    db.close();
  }

  // The index's vectors are the encoder's embeddings of the same files.
  const enc = await OnnxClipEncoder.load(join(ws.models, 'tiny-model'), { intraOpNumThreads: 1 });
  try {
    const { index } = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', encoder: enc });
    const manifest = readFileSync(join(ws.datasets, 'tiny', 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const entry = manifest.find((e: { id: string }) => e.id === index.ids[4]);
    const [v] = await enc.encodeImages([join(ws.datasets, 'tiny', entry.file)]);
    assert.deepEqual(Array.from(index.vectors.subarray(4 * 32, 5 * 32)), Array.from(v));
    // A text query finds its nearest images through both searches.
    const [q] = await enc.encodeTexts(['a car on the road']);
    assert.deepEqual(index.hnsw.search(q, 5).map((n) => n.id), index.exact.search(q, 5).map((n) => n.id));
  } finally {
    await enc.close();
  }
});

test('index: a changed manifest, model, graph parameters or a corrupt file trigger a rebuild', { skip }, async () => {
  const base = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test' });
  const created = base.index.card.createdAt;

  // ef only: reused, index.json records the new ef.
  const ef = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { efSearch: 99 } });
  assert.equal(ef.built, false);
  assert.equal(ef.index.hnsw.efSearch, 99);
  assert.equal(JSON.parse(readFileSync(join(ef.index.dir, 'index.json'), 'utf8')).hnsw.efSearch, 99);

  // Different graph degree: rebuilt.
  const m = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { m: 8 } });
  assert.equal(m.built, true);
  assert.match(m.reason, /M=16/);

  // The dataset changed (a caption edited: new manifest hash).
  const dsDir = join(ws.datasets, 'tiny');
  const manifest = readFileSync(join(dsDir, 'manifest.jsonl'), 'utf8').replace('a car on the road', 'a car on the wet road');
  writeFileSync(join(dsDir, 'manifest.jsonl'), manifest);
  const card = JSON.parse(readFileSync(join(dsDir, 'dataset.json'), 'utf8'));
  card.manifestSha256 = sha256(manifest);
  writeFileSync(join(dsDir, 'dataset.json'), JSON.stringify(card));
  const changed = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { m: 8 } });
  assert.equal(changed.built, true);
  assert.match(changed.reason, /manifest changed/);
  assert.equal(changed.index.card.dataset.manifestSha256, card.manifestSha256);

  // The model package was rebuilt (its image graph changed).
  const same = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { m: 8 } });
  assert.equal(same.built, false, 'an untouched package is reused');
  const pkgCard = JSON.parse(readFileSync(join(ws.models, 'tiny-model', 'model.json'), 'utf8'));
  writeFileSync(join(ws.models, 'tiny-model', 'model.json'), JSON.stringify({ ...pkgCard, image: { ...pkgCard.image, mean: [0.5, 0.5, 0.5] } }));
  const pre = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { m: 8 } });
  assert.equal(pre.built, true);
  assert.match(pre.reason, /model package changed/);
  writeFileSync(join(ws.models, 'tiny-model', 'model.json'), JSON.stringify(pkgCard));

  // A truncated vectors file: detected on load and rebuilt.
  const ok = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { m: 8 } });
  truncateSync(join(ok.index.dir, 'vectors.f32'), 100);
  const fixed = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { m: 8 } });
  assert.equal(fixed.built, true);
  assert.match(fixed.reason, /corrupt index/);

  // --force.
  const forced = await ensureIndex(ws, { model: 'tiny-model', dataset: 'tiny', split: 'test', hnsw: { m: 8 }, force: true });
  assert.equal(forced.built, true);
  assert.notEqual(forced.index.card.createdAt, created);
});

test('embed: images and captions as float32 .npy with an ids sidecar', { skip }, async () => {
  const out = join(ws.root, 'emb.npy');
  const r = await cli('embed', '--model', 'tiny-model', '--dataset', 'tiny', '--split', 'all', '--out', out);
  assert.equal(r.code, 0, r.err);
  const { data, shape } = readNpy(out);
  assert.deepEqual(shape, [27, 32]);
  const ids = JSON.parse(readFileSync(join(ws.root, 'emb.ids.json'), 'utf8'));
  assert.equal(ids.length, 27);
  for (let i = 0; i < 27; i++) {
    const n = Math.hypot(...data.subarray(i * 32, (i + 1) * 32));
    assert.ok(Math.abs(n - 1) < 1e-5);
  }
  const t = await cli('embed', '--model', 'tiny-model', '--dataset', 'tiny', '--out', join(ws.root, 'txt.npy'), '--texts');
  assert.equal(t.code, 0, t.err);
  assert.deepEqual(readNpy(join(ws.root, 'txt.npy')).shape, [18, 32]);
  const rows = JSON.parse(readFileSync(join(ws.root, 'txt.ids.json'), 'utf8'));
  assert.equal(rows.length, 18);
  assert.deepEqual(Object.keys(rows[0]).sort(), ['caption', 'captionIndex', 'imageId']);
});

test('index and embed: bad input is a one-line error and a non-zero exit', { skip }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['index', '--dataset', 'tiny'], /missing --model/],
    [['index', '--model', 'nope', '--dataset', 'tiny'], /unknown model "nope"/],
    [['index', '--model', 'tiny-model', '--dataset', 'nope'], /unknown dataset "nope"/],
    [['index', '--model', 'tiny-model', '--dataset', 'tiny', '--split', 'dev'], /unknown split "dev"/],
    [['index', '--model', 'tiny-model', '--dataset', 'tiny', '--m', '1'], /--m must be ≥ 2/],
    [['index', '--model', 'tiny-model', '--dataset', 'tiny', '--ef', 'x'], /--ef must be a number/],
    [['index', '--model', '../x', '--dataset', 'tiny'], /invalid model id/],
    [['embed', '--model', 'tiny-model', '--dataset', 'tiny', '--out', 'x.txt'], /--out must name a \.npy file/],
    [['embed', '--model', 'tiny-model', '--dataset', 'tiny', '--split', 'val', '--out', join(ws?.root ?? '.', 'v.npy')], /has no val images/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.err, re, args.join(' '));
    assert.equal(r.err.trim().split('\n')[0].startsWith('poisonlens: '), true);
  }
});
