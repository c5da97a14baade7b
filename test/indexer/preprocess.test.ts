import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { Rng } from '../../core/random.js';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { readModelPackage } from '../../indexer/package.js';
import { preprocessBatch, resizeAndCrop, type ImageSpec } from '../../indexer/preprocess.js';
import { tinyWorld, tinyWorldMissing } from '../helpers/tiny-world.js';
import { pythonMissing, runPython } from './py-ref.js';

const skip = pythonMissing() ?? tinyWorldMissing() ?? false;
let dir = '';
let extra: string[] = [];

/** Pictures that exercise decoding and resizing: noise, gradients, odd sizes, modes, formats. */
async function makeImages(out: string): Promise<string[]> {
  const rng = new Rng(7);
  const files: string[] = [];
  const noise = (w: number, h: number, ch: number) => {
    const b = Buffer.alloc(w * h * ch);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < ch; c++) {
          const smooth = ((x * (c + 1) * 3 + y * (3 - c) * 2) % 256);
          b[(y * w + x) * ch + c] = rng.chance(0.3) ? rng.int(0, 255) : smooth;
        }
      }
    }
    return sharp(b, { raw: { width: w, height: h, channels: ch as 1 | 2 | 3 | 4 } });
  };
  const add = async (name: string, img: Sharp) => {
    const p = join(out, name);
    await img.toFile(p);
    files.push(p);
  };
  await add('photo-500x375.jpg', noise(500, 375, 3).jpeg({ quality: 85 }));
  await add('portrait-375x500.png', noise(375, 500, 3).png());
  await add('exact-64.png', noise(64, 64, 3).png());
  await add('odd-65x64.png', noise(65, 64, 3).png());
  await add('strip-1000x20.png', noise(1000, 20, 3).png());
  await add('tiny-7x9.png', noise(7, 9, 3).png());
  await add('grey-120x90.png', noise(120, 90, 1).png());
  await add('grey-alpha-90x120.png', noise(90, 120, 2).png());
  await add('rgba-200x150.png', noise(200, 150, 4).png());
  await add('palette-150x100.png', noise(150, 100, 3).png({ palette: true, colours: 64 }));
  await add('jpeg-q50-333x222.jpg', noise(333, 222, 3).jpeg({ quality: 50 }));
  await add('jpeg-444-210x280.jpg', noise(210, 280, 3).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }));
  return files;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'pl-pre-'));
  extra = await makeImages(dir);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function decodeF32(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
}

const MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

test('preprocessing matches the engine pixel for pixel at the package size, 64 and 224 px', { skip }, async (t) => {
  const world = await tinyWorld();
  const pkg = readModelPackage(world.modelDir);
  const paths = [...extra, ...readdirSync(join(world.datasetDir, 'images')).map((f) => join(world.datasetDir, 'images', f))];
  const sizes = [64, 224];
  // One Python run (importing torch is the slow part): the package's size with embeddings, and more sizes.
  const ref = runPython<{ pixels: string; embeds: string; dim: number; extra: Record<string, string> }>('ref_preprocess.py', {
    paths, size: pkg.card.image.size, mean: MEAN, std: STD, imageOnnx: null, extraSizes: sizes,
  });
  assert.deepEqual(pkg.card.image.mean, MEAN);
  for (const [size, b64] of [[pkg.card.image.size, ref.pixels], ...sizes.map((s) => [s, ref.extra[String(s)]] as const)] as Array<[number, string]>) {
    const spec: ImageSpec = { size, mean: MEAN, std: STD, resize: 'bicubic', crop: 'center' };
    const want = decodeF32(b64);
    const got = await preprocessBatch(paths, spec);
    assert.equal(got.length, want.length);
    const per = 3 * size * size;
    const bad: string[] = [];
    paths.forEach((p, i) => {
      let maxDiff = 0;
      let differing = 0;
      for (let j = i * per; j < (i + 1) * per; j++) {
        const d = Math.abs(got[j] - want[j]);
        if (d > 0) differing++;
        if (d > maxDiff) maxDiff = d;
      }
      if (differing) bad.push(`${p.split('/').pop()}: ${differing}/${per} values differ, max |Δ| ${maxDiff}`);
    });
    assert.deepEqual(bad, [], `pixel tensors at ${size}px must be bit-identical`);
    t.diagnostic(`${paths.length} images at ${size}px: bit-identical pixel tensors`);
  }
});

test('image embeddings through onnxruntime-node match the engine pipeline (cosine ≥ 0.999)', { skip }, async (t) => {
  const world = await tinyWorld();
  const pkg = readModelPackage(world.modelDir);
  const paths = [...extra, ...readdirSync(join(world.datasetDir, 'images')).map((f) => join(world.datasetDir, 'images', f))];
  const ref = runPython<{ embeds: string; dim: number }>('ref_preprocess.py', {
    paths, size: pkg.card.image.size, mean: pkg.card.image.mean, std: pkg.card.image.std, imageOnnx: pkg.imageOnnx,
  });
  const want = decodeF32(ref.embeds);
  const enc = await OnnxClipEncoder.load(pkg, { intraOpNumThreads: 1 });
  try {
    const got = await enc.encodeImages(paths);
    let worst = 1;
    got.forEach((v, i) => {
      let dot = 0;
      let n = 0;
      for (let j = 0; j < ref.dim; j++) {
        dot += v[j] * want[i * ref.dim + j];
        n += want[i * ref.dim + j] ** 2;
      }
      worst = Math.min(worst, dot / Math.sqrt(n));
    });
    t.diagnostic(`worst per-image cosine over ${paths.length} images: ${worst}`);
    assert.ok(worst >= 0.999, `worst cosine ${worst}`);
    // Bytes in memory give what the path gives.
    const fromBytes = await enc.encodeImages([readFileSync(paths[0])]);
    assert.deepEqual(Array.from(fromBytes[0]), Array.from(got[0]));
  } finally {
    await enc.close();
  }
});

test('resize keeps torchvision Resize(size) geometry and centre crop', () => {
  const img = { data: new Uint8Array(100 * 37 * 3).fill(9), width: 100, height: 37 };
  const out = resizeAndCrop(img, 32);
  assert.equal(out.width, 32);
  assert.equal(out.height, 32);
  assert.ok(out.data.every((v) => v === 9), 'a flat image stays flat through bicubic resampling');
});

test('undecodable bytes and missing files are one-line user errors', async () => {
  const spec: ImageSpec = { size: 32, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bicubic', crop: 'center' };
  await assert.rejects(preprocessBatch([new Uint8Array([1, 2, 3, 4])], spec), (e: Error) => e.name === 'UserError' && /cannot decode image/.test(e.message));
  const d = mkdtempSync(join(tmpdir(), 'pl-pre-'));
  try {
    writeFileSync(join(d, 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nnot really'));
    await assert.rejects(preprocessBatch([join(d, 'broken.png')], spec), /cannot decode image/);
    await assert.rejects(preprocessBatch([join(d, 'absent.png')], spec), /missing image file|cannot decode image/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the PNG fast path decodes exactly what sharp decodes, and declines what it does not handle', async () => {
  const { decodePngFast } = await import('../../indexer/png-decoder.js');
  const rng = new Rng(11);
  const kinds: Array<[string, number, (s: Sharp) => Sharp]> = [
    ['rgb', 3, (s) => s.png({ compressionLevel: 9, adaptiveFiltering: true })],
    ['rgb-nofilter', 3, (s) => s.png({ adaptiveFiltering: false })],
    ['rgba', 4, (s) => s.png()],
    ['grey', 1, (s) => s.png()],
    ['grey-alpha', 2, (s) => s.png()],
    ['palette', 3, (s) => s.png({ palette: true, colours: 200 })],
    ['palette-2bit', 3, (s) => s.png({ palette: true, colours: 4 })],
    ['16-bit', 3, (s) => s.toColourspace('rgb16').png()],
    ['interlaced', 3, (s) => s.png({ progressive: true })],
  ];
  for (const [name, ch, fmt] of kinds) {
    const w = rng.int(1, 90);
    const h = rng.int(1, 90);
    const raw = Buffer.alloc(w * h * ch);
    for (let i = 0; i < raw.length; i++) raw[i] = rng.chance(0.5) ? rng.int(0, 255) : (i * 7) % 256;
    const png = await fmt(sharp(raw, { raw: { width: w, height: h, channels: ch as 1 | 2 | 3 | 4 } })).toBuffer();
    const fast = decodePngFast(png);
    const { data, info } = await sharp(png, { ignoreIcc: true }).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (['16-bit', 'interlaced', 'palette-2bit'].includes(name)) {
      assert.equal(fast, null, `${name}: declined`);
      continue;
    }
    assert.ok(fast, `${name}: decoded`);
    assert.deepEqual([fast.width, fast.height], [info.width, info.height]);
    assert.ok(Buffer.from(fast.data).equals(data), `${name} ${w}x${h}: same pixels as sharp`);
  }
  const good = await sharp(Buffer.alloc(12, 9), { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer();
  const corrupt = Buffer.from(good);
  corrupt[corrupt.length - 20] ^= 0xff;
  assert.equal(decodePngFast(corrupt), null, 'a bad CRC goes to sharp');
  assert.equal(decodePngFast(good.subarray(0, good.length - 12)), null, 'no IEND: declined');
});
