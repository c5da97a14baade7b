import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { readModelPackage, validateModelCard } from '../../indexer/package.js';
import { tinyWorld, tinyWorldMissing, type TinyWorld } from '../helpers/tiny-world.js';

const skip = tinyWorldMissing() ?? false;
let world: TinyWorld;
let enc: OnnxClipEncoder;

before(async () => {
  if (skip) return;
  world = await tinyWorld();
  enc = await OnnxClipEncoder.load(world.modelDir, { intraOpNumThreads: 1, textBatchSize: 3, imageBatchSize: 4 });
});
after(async () => {
  await enc?.close();
});

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
function cos(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

test('the encoder matches torch fp32 on the engine reference inputs (cosine ≥ 0.9999)', { skip }, async () => {
  assert.ok(world.referencePath, 'the engine wrote reference embeddings');
  const ref = JSON.parse(readFileSync(world.referencePath!, 'utf8')) as {
    pixelValues: { shape: number[]; data: number[] };
    inputIds: number[][];
    imageEmbeds: number[][];
    textEmbeds: number[][];
  };
  const n = ref.pixelValues.shape[0];
  const img = await enc.encodePixels(Float32Array.from(ref.pixelValues.data), n);
  for (let i = 0; i < n; i++) assert.ok(cos(img.subarray(i * enc.dim, (i + 1) * enc.dim), ref.imageEmbeds[i]) >= 0.9999);
  const ids = BigInt64Array.from(ref.inputIds.flat().map((x) => BigInt(x)));
  const txt = await enc.encodeTokenIds(ids, ref.inputIds.length);
  for (let i = 0; i < ref.inputIds.length; i++) assert.ok(cos(txt.subarray(i * enc.dim, (i + 1) * enc.dim), ref.textEmbeds[i]) >= 0.9999);
});

test('texts: normalised, batched in any grouping with the same result, cached', { skip }, async () => {
  assert.equal(enc.modelId, 'tiny-model');
  assert.equal(enc.dim, 32);
  assert.equal(enc.contextLength, 16);
  const texts = Array.from({ length: 10 }, (_, i) => `a sheep number ${i} on the grass`);
  const together = await enc.encodeTexts(texts);
  assert.equal(together.length, 10);
  for (const v of together) assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  enc.textCache.clear();
  for (let i = 0; i < texts.length; i++) {
    const [alone] = await enc.encodeTexts([texts[i]]);
    assert.ok(cos(alone, together[i]) > 0.99999, `text ${i} alone vs in a batch`);
  }
  const hits = enc.textCache.hits;
  const again = await enc.encodeTexts([texts[2], texts[2], 'something new']);
  assert.equal(enc.textCache.hits, hits + 2);
  assert.deepEqual(again[0], again[1]);
  again[0][0] = 42; // callers own their rows: the cache is untouched
  const third = await enc.encodeTexts([texts[2]]);
  assert.notEqual(third[0][0], 42);
  assert.deepEqual(await enc.encodeTexts([]), []);
});

test('images: paths and bytes, normalised, batch grouping does not matter', { skip }, async () => {
  const dataset = JSON.parse(readFileSync(join(world.datasetDir, 'dataset.json'), 'utf8'));
  assert.equal(dataset.name, 'tiny');
  const files = readFileSync(join(world.datasetDir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => join(world.datasetDir, JSON.parse(l).file));
  const all = await enc.encodeImages(files.slice(0, 9));
  for (const v of all) assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  const one = await enc.encodeImages([readFileSync(files[5])]);
  assert.ok(cos(one[0], all[5]) > 0.99999);
  await assert.rejects(enc.encodeImages([new Uint8Array([0, 1, 2])]), /cannot decode image/);
});

test('model.json validation names the bad field', () => {
  const good = {
    id: 'm', name: 'm', kind: 'clean', arch: 'a', embedDim: 8, parent: null, trainset: null, createdAt: 'x',
    image: { size: 32, mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2], resize: 'bicubic', crop: 'center' },
    text: { tokenizer: 'clip-bpe', contextLength: 16 },
  };
  assert.equal(validateModelCard(good).id, 'm');
  const bad = (patch: (c: any) => void, re: RegExp) => {
    const c = structuredClone(good) as any;
    patch(c);
    assert.throws(() => validateModelCard(c, 'x/model.json'), re);
  };
  bad((c) => delete c.image.size, /x\/model\.json: field image\.size must be a positive integer \(missing\)/);
  bad((c) => (c.image.std = [1, 0, 1]), /field image\.std must be an array of 3 positive numbers/);
  bad((c) => (c.image.resize = 'bilinear'), /field image\.resize must be "bicubic"/);
  bad((c) => (c.kind = 'evil'), /field kind must be one of base, clean, poisoned, defended/);
  bad((c) => (c.embedDim = 0), /field embedDim must be a positive integer/);
  bad((c) => (c.text.contextLength = '77'), /field text\.contextLength must be a positive integer/);
  bad((c) => (c.text.tokenizer = 'sentencepiece'), /field text\.tokenizer must be "clip-bpe"/);
  bad((c) => (c.text.vocab = '../x.gz'), /field text\.vocab must be a file name inside the package/);
  assert.throws(() => validateModelCard([1, 2]), /must be a JSON object/);
});

test('broken packages are refused with the reason', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-pkg-'));
  try {
    const pkgDir = join(dir, 'm');
    cpSync(world.modelDir, pkgDir, { recursive: true });
    const card = JSON.parse(readFileSync(join(pkgDir, 'model.json'), 'utf8'));
    writeFileSync(join(pkgDir, 'model.json'), JSON.stringify({ ...card, embedDim: 64 }));
    await assert.rejects(OnnxClipEncoder.load(pkgDir), /returns 32-dimensional embeddings but model\.json says embedDim 64/);
    writeFileSync(join(pkgDir, 'model.json'), JSON.stringify(card));
    assert.equal(readModelPackage(pkgDir).id, 'tiny-model');
    rmSync(join(pkgDir, 'text.onnx'));
    assert.throws(() => readModelPackage(pkgDir), /is incomplete: text\.onnx/);
    writeFileSync(join(pkgDir, 'text.onnx'), 'not onnx');
    if (card.files) {
      // Packages list their files' sizes: the replaced graph is caught before onnxruntime sees it.
      await assert.rejects(OnnxClipEncoder.load(pkgDir), /is corrupt: text\.onnx has 8 bytes/);
      const { files: _files, ...unlisted } = card;
      writeFileSync(join(pkgDir, 'model.json'), JSON.stringify(unlisted));
    }
    // Without a file list (older packages), onnxruntime's refusal names the graph.
    await assert.rejects(OnnxClipEncoder.load(pkgDir), /cannot load .*text\.onnx/);
    writeFileSync(join(pkgDir, 'model.json'), '{ nope');
    assert.throws(() => readModelPackage(pkgDir), /model\.json is not valid JSON/);
    assert.throws(() => readModelPackage(join(dir, 'absent')), /no model package/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
