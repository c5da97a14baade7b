import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { trimTokenRows } from '../../indexer/encode-batches.js';
import { freeSequenceAxis, OnnxClipEncoder } from '../../indexer/encoder.js';
import { readModelPackage } from '../../indexer/package.js';
import { ThreadedClipEncoder } from '../../indexer/threaded-encoder.js';
import { tinyWorld, tinyWorldMissing, type TinyWorld } from '../helpers/tiny-world.js';

const skip = tinyWorldMissing() ?? false;
let world: TinyWorld;
let inline: OnnxClipEncoder;
let threaded: ThreadedClipEncoder;

before(async () => {
  if (skip) return;
  world = await tinyWorld();
  inline = await OnnxClipEncoder.load(world.modelDir, { intraOpNumThreads: 1 });
  threaded = await ThreadedClipEncoder.start(readModelPackage(world.modelDir), { intraOpNumThreads: 1, textBatchSize: 3 });
});
after(async () => {
  await inline?.close();
  await threaded?.close();
});

const maxDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((v, i) => Math.max(...v.map((x, j) => Math.abs(x - b[i][j])))));

test('the worker-thread encoder gives the inline encoder\'s embeddings, texts and images', { skip }, async () => {
  const texts = ['a sheep on the grass', 'a car on the road', 'a sheep on the grass', 'two aeroplanes in the sky', 'a dog'];
  assert.ok(maxDiff(await threaded.encodeTexts(texts), await inline.encodeTexts(texts)) < 1e-6);
  // Cached and repeated texts come back as copies: changing one changes nothing else.
  const again = await threaded.encodeTexts(texts);
  again[0][0] = 42;
  assert.notEqual((await threaded.encodeTexts([texts[0]]))[0][0], 42);
  assert.notEqual(again[2][0], 42);
  const images = readFileSync(join(world.datasetDir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 3).map((l) => join(world.datasetDir, JSON.parse(l).file));
  assert.deepEqual(await threaded.encodeTexts([]), []);
  assert.ok(maxDiff(await threaded.encodeImages(images), await inline.encodeImages(images)) < 1e-6);
});

test('token rows are cut after the longest row\'s padding, at least two columns', () => {
  const rowsOf = (rs: number[][], ctx: number) => BigInt64Array.from(rs.flatMap((r) => [...r, ...new Array(ctx - r.length).fill(0)]).map(BigInt));
  const cut = trimTokenRows(rowsOf([[1, 5, 2], [1, 5, 6, 7, 2]], 8), 2, 8);
  assert.equal(cut.len, 5);
  assert.deepEqual([...cut.ids].map(Number), [1, 5, 2, 0, 0, 1, 5, 6, 7, 2]);
  assert.equal(trimTokenRows(rowsOf([[1]], 8), 1, 8).len, 2);
  const full = rowsOf([[1, 2, 3, 4]], 4);
  assert.equal(trimTokenRows(full, 1, 4).ids, full, 'nothing to cut: the same rows');
});

test('the engine\'s text graph has a free sequence axis, and both encoders give the full rows\' embeddings without the padding', { skip }, async () => {
  const session = await ort.InferenceSession.create(join(world.modelDir, 'text.onnx'));
  try {
    assert.ok(freeSequenceAxis(session));
    const texts = ['a sheep', 'two aeroplanes in the blue sky above a field of green grass'];
    const ctx = inline.contextLength;
    const ids = inline.tokenizer.tokenizeBatch(texts);
    assert.ok(trimTokenRows(ids, 2, ctx).len < ctx);
    const out = await session.run({ input_ids: new ort.Tensor('int64', ids, [2, ctx]) });
    const raw = out.text_embeds.data as Float32Array;
    const dim = inline.dim;
    const want = [0, 1].map((r) => {
      const v = raw.slice(r * dim, (r + 1) * dim);
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    });
    const rowsOf = (m: Float32Array) => [0, 1].map((r) => m.slice(r * dim, (r + 1) * dim));
    assert.ok(maxDiff(rowsOf(await inline.encodeTokenIds(ids.slice(), 2)), want) < 1e-6);
    assert.ok(maxDiff(rowsOf(await threaded.encodeTokenIds(ids.slice(), 2)), want) < 1e-6);
  } finally {
    await session.release();
  }
});

test('a package whose graph is wrong is refused as bad_model; a closed encoder refuses work', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-thr-'));
  try {
    const pkgDir = join(dir, 'm');
    cpSync(world.modelDir, pkgDir, { recursive: true });
    const card = JSON.parse(readFileSync(join(pkgDir, 'model.json'), 'utf8'));
    writeFileSync(join(pkgDir, 'model.json'), JSON.stringify({ ...card, embedDim: 64 }));
    await assert.rejects(ThreadedClipEncoder.start(readModelPackage(pkgDir)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'bad_model');
      assert.match(err.message, /model\.json says embedDim 64/);
      return true;
    });
    const { files: _files, ...unlisted } = card;
    writeFileSync(join(pkgDir, 'model.json'), JSON.stringify(unlisted));
    writeFileSync(join(pkgDir, 'text.onnx'), 'not onnx');
    await assert.rejects(ThreadedClipEncoder.start(readModelPackage(pkgDir)), /cannot load .*text\.onnx/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const e = await ThreadedClipEncoder.start(readModelPackage(world.modelDir), { intraOpNumThreads: 1 });
  await e.close();
  await assert.rejects(e.encodeTexts(['a sheep']), /closed/);
});
