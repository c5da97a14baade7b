/**
 * Indexing throughput against the bare image encoder, on one machine in one run:
 * - bare: pre-made pixel batches through the image graph on this thread (images/s);
 * - inline: files → decode → preprocess → encode, all on this thread;
 * - worker: the same with the graph in a worker thread and the next batch prepared meanwhile
 *   (what `poisonlens index` does).
 * Repetitions are interleaved and medians reported, so that load from other processes hits
 * all three alike. Prints JSON on stdout.
 *
 *   node --import tsx bench/indexing-bench.ts --model M --dataset N [--workspace DIR] [--split all]
 *        [--images 1024] [--batch 64] [--threads 2] [--reps 4]
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { resolveWorkspace } from '../core/workspace.js';
import { loadDataset } from '../data/dataset.js';
import { checkSplit, embedImageFiles, openPixelEncoder, splitEntries } from '../indexer/index-build.js';
import { OnnxClipEncoder } from '../indexer/encoder.js';
import { loadModelPackage } from '../indexer/package.js';
import { preprocessBatch } from '../indexer/preprocess.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dataset: { type: 'string' },
    workspace: { type: 'string' },
    split: { type: 'string', default: 'all' },
    images: { type: 'string', default: '1024' },
    batch: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '4' },
  },
});
if (!values.model || !values.dataset) {
  console.error('usage: node --import tsx bench/indexing-bench.ts --model M --dataset N [--workspace DIR] [--split all] [--images 1024] [--batch 64] [--threads 2] [--reps 4]');
  process.exit(2);
}
const ws = resolveWorkspace(values.workspace);
const bs = Number(values.batch);
const threads = Number(values.threads);
const dataset = loadDataset(ws, values.dataset);
const paths = splitEntries(dataset, checkSplit(values.split!)).map((e) => join(dataset.dir, e.file)).slice(0, Number(values.images));
const pkg = loadModelPackage(ws, values.model);
const enc = await OnnxClipEncoder.load(pkg, { intraOpNumThreads: threads, towers: ['image'] });
const worker = await openPixelEncoder(pkg, { threads });
const size = enc.imageSpec.size;
const batches: Float32Array[] = [];
for (let b = 0; b < paths.length; b += bs) batches.push(await preprocessBatch(paths.slice(b, b + bs), enc.imageSpec));
await enc.encodePixels(batches[0], batches[0].length / (3 * size * size)); // warm-up
const bare: number[] = [];
const inline: number[] = [];
const viaWorker: number[] = [];
for (let rep = 0; rep < Number(values.reps); rep++) {
  const t = performance.now();
  for (const px of batches) await enc.encodePixels(px, px.length / (3 * size * size));
  bare.push(paths.length / ((performance.now() - t) / 1000));
  inline.push((await embedImageFiles(enc, paths, { batchSize: bs })).imagesPerSecond);
  viaWorker.push((await embedImageFiles(worker.enc, paths, { batchSize: bs })).imagesPerSecond);
  process.stderr.write(`rep ${rep + 1}: bare ${bare.at(-1)!.toFixed(0)}, inline ${inline.at(-1)!.toFixed(0)}, worker ${viaWorker.at(-1)!.toFixed(0)} images/s\n`);
}
await enc.close();
await worker.close();
const med = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const r = (x: number) => +x.toFixed(1);
console.log(JSON.stringify({
  bench: 'indexing', model: pkg.id, arch: pkg.card.arch, imageSize: size, images: paths.length, batch: bs, threads, workerMode: worker.mode,
  bareImagesPerSecond: r(med(bare)), inlineImagesPerSecond: r(med(inline)), workerImagesPerSecond: r(med(viaWorker)),
  inlineRatio: +(med(inline) / med(bare)).toFixed(3), workerRatio: +(med(viaWorker) / med(bare)).toFixed(3),
  runs: { bare: bare.map(r), inline: inline.map(r), worker: viaWorker.map(r) },
}, null, 2));
