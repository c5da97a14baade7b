/**
 * Encoding speed, onnxruntime-node against torch on the same model package (its ONNX graphs and
 * its checkpoint.pt in the engine's venv), same threads, same run: single text queries per
 * second (tokenise + encode, batch 1, no cache) and images per second (pre-made pixel batches).
 * Order: onnxruntime, torch, onnxruntime, so that load from other processes hits both alike.
 * Torch runs with OMP_WAIT_POLICY=PASSIVE, the match of the encoder's onnxruntime setting (no
 * spinning threads): with OpenMP's default busy-waiting, torch measured 10x slower here while
 * other processes shared the 2 cores (4 vs 63 text queries/s, 22 vs 99 images/s).
 *
 *   node --import tsx bench/encoding-bench.ts --workspace WS --model M [--threads 2] [--texts 200] [--images 512] [--reps 2]
 *
 * Prints one JSON document. A benchmark: it never fails on a number.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveWorkspace } from '../core/workspace.js';
import { OnnxClipEncoder } from '../indexer/encoder.js';
import { loadModelPackage } from '../indexer/package.js';
import { PYTHON, ROOT } from './bench-world.js';
import { log, spread } from './stats.js';

const { values } = parseArgs({
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    threads: { type: 'string', default: '2' },
    texts: { type: 'string', default: '200' },
    images: { type: 'string', default: '512' },
    batch: { type: 'string', default: '64' },
    reps: { type: 'string', default: '2' },
  },
});
const ws = resolveWorkspace(values.workspace);
const pkg = loadModelPackage(ws, values.model!);
const threads = Number(values.threads);
const nTexts = Number(values.texts);
const nImages = Number(values.images);
const bs = Number(values.batch);
const reps = Number(values.reps);
const enc = await OnnxClipEncoder.load(pkg, { intraOpNumThreads: threads, textCacheSize: 0 });
const size = enc.imageSpec.size;
const pixels = new Float32Array(bs * 3 * size * size).map(() => Math.random() * 2 - 1);
const texts = Array.from({ length: nTexts }, (_, i) => `a photo of a sheep on the grass number ${i}`);
for (const t of texts.slice(0, 10)) await enc.encodeTextMatrix([t]);
await enc.encodePixels(pixels, bs);

const ortText: number[] = [];
const ortImage: number[] = [];
async function ortRound(): Promise<void> {
  let t = performance.now();
  for (const q of texts) await enc.encodeTextMatrix([q]);
  ortText.push(nTexts / ((performance.now() - t) / 1000));
  let n = 0;
  t = performance.now();
  while (n < nImages) {
    await enc.encodePixels(pixels, bs);
    n += bs;
  }
  ortImage.push(n / ((performance.now() - t) / 1000));
  log(`onnxruntime: ${ortText.at(-1)!.toFixed(0)} text queries/s, ${ortImage.at(-1)!.toFixed(0)} images/s`);
}

await ortRound();
let torch: Record<string, unknown> | { skipped: string };
const ckpt = join(realpathSync(pkg.dir), 'checkpoint.pt');
if (!existsSync(PYTHON)) torch = { skipped: 'no Python venv (.venv)' };
else if (!existsSync(ckpt)) torch = { skipped: `the package has no checkpoint.pt` };
else {
  const r = spawnSync(PYTHON, [join(ROOT, 'bench', 'encode_torch.py'), '--package', realpathSync(pkg.dir), '--threads', String(threads), '--texts', String(nTexts),
    '--images', String(nImages), '--batch', String(bs), '--reps', String(reps)], { encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' } });
  if (r.status !== 0) torch = { skipped: `torch run failed: ${r.stderr.slice(-600)}` };
  else {
    const j = JSON.parse(r.stdout);
    torch = { torch: j.torch, precision: j.precision, textQueriesPerSecond: spread(j.textQueriesPerSecond), imagesPerSecond: spread(j.imagesPerSecond) };
    log(`torch: ${JSON.stringify(torch)}`);
  }
}
for (let i = 1; i < reps; i++) await ortRound();
await enc.close();
const ort = { textQueriesPerSecond: spread(ortText), imagesPerSecond: spread(ortImage) };
const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' ? +(a / b).toFixed(3) : null);
const tt = torch as { textQueriesPerSecond?: { median: number }; imagesPerSecond?: { median: number } };
console.log(JSON.stringify({
  bench: 'encoding', model: pkg.id, arch: pkg.card.arch, imageSize: size, threads, batch: bs, onnxruntime: ort, torch,
  textOrtOverTorch: ratio(ort.textQueriesPerSecond.median, tt.textQueriesPerSecond?.median),
  imageOrtOverTorch: ratio(ort.imagesPerSecond.median, tt.imagesPerSecond?.median),
}, null, 2));
