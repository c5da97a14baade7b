import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
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
