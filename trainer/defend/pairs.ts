import { isAbsolute, join } from 'node:path';
import { openCatalog } from '../../core/catalog.js';
import { Progress } from '../../core/progress.js';
import type { Workspace } from '../../core/workspace.js';
import { registerTrainset, type Trainset } from '../../data/trainset.js';
import { dot } from '../../indexer/dot.js';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { loadModelPackage } from '../../indexer/package.js';

/**
 * Embedding every (image, caption) pair of a training set with a reference model — the shared
 * first step of the pre-training defences (filter, safe/risky split). Images and captions are
 * encoded once each (a training set repeats every image for each of its captions), in batches,
 * through the indexer's ONNX encoder; the result is the cosine similarity of each pair.
 */
export interface PairScores {
  /** Cosine similarity image·caption of pair i (embeddings L2-normalised). */
  similarity: Float64Array;
  /** 1 − similarity: the paper's cosine distance. */
  distance: Float64Array;
  images: number;
  captions: number;
  seconds: number;
}

/** A pair's image path as the engine resolves it: absolute, else relative to the dataset folder. */
export function pairImagePath(t: Trainset, image: string): string {
  return isAbsolute(image) ? image : join(t.card.dataset.dir, image);
}

/** The embeddings behind PairScores (scorePairs with keepEmbeddings): each distinct image and caption once, rows L2-normalised. */
export interface PairEmbeddings {
  dim: number;
  /** images × dim and captions × dim. */
  images: Float32Array;
  captions: Float32Array;
  /** Row of pair i's image and caption. */
  pairImage: Int32Array;
  pairCaption: Int32Array;
}

export async function scorePairs(ws: Workspace, t: Trainset, reference: string, opts: { quiet?: boolean; batch?: number; keepEmbeddings?: boolean } = {}): Promise<PairScores & { embeddings?: PairEmbeddings }> {
  const t0 = Date.now();
  const pkg = loadModelPackage(ws, reference);
  const batch = opts.batch ?? 128;
  const enc = await OnnxClipEncoder.load(pkg, { imageBatchSize: batch, textBatchSize: batch, textCacheSize: 0 });
  try {
    const imageIndex = new Map<string, number>();
    const imagePaths: string[] = [];
    const captionIndex = new Map<string, number>();
    const captions: string[] = [];
    const pairImage = new Int32Array(t.pairs.length);
    const pairCaption = new Int32Array(t.pairs.length);
    t.pairs.forEach((p, i) => {
      const path = pairImagePath(t, p.image);
      let ii = imageIndex.get(path);
      if (ii === undefined) {
        ii = imagePaths.length;
        imageIndex.set(path, ii);
        imagePaths.push(path);
      }
      let ci = captionIndex.get(p.caption);
      if (ci === undefined) {
        ci = captions.length;
        captionIndex.set(p.caption, ci);
        captions.push(p.caption);
      }
      pairImage[i] = ii;
      pairCaption[i] = ci;
    });
    const dim = enc.dim;
    const bar = new Progress({ label: `embed with ${reference}`, total: imagePaths.length + captions.length, unit: 'item', quiet: Boolean(opts.quiet) });
    const img = new Float32Array(imagePaths.length * dim);
    for (let b = 0; b < imagePaths.length; b += batch) {
      const chunk = imagePaths.slice(b, b + batch);
      img.set(await enc.encodeImageMatrix(chunk), b * dim);
      bar.update(Math.min(imagePaths.length, b + batch));
    }
    const txt = new Float32Array(captions.length * dim);
    for (let b = 0; b < captions.length; b += batch) {
      const chunk = captions.slice(b, b + batch);
      txt.set(await enc.encodeTextMatrix(chunk), b * dim);
      bar.update(imagePaths.length + Math.min(captions.length, b + batch));
    }
    bar.finish();
    const similarity = new Float64Array(t.pairs.length);
    const distance = new Float64Array(t.pairs.length);
    for (let i = 0; i < t.pairs.length; i++) {
      const a = pairImage[i] * dim;
      const c = pairCaption[i] * dim;
      const s = dot(img.subarray(a, a + dim), txt.subarray(c, c + dim));
      similarity[i] = s;
      distance[i] = 1 - s;
    }
    const out: PairScores & { embeddings?: PairEmbeddings } = { similarity, distance, images: imagePaths.length, captions: captions.length, seconds: (Date.now() - t0) / 1000 };
    if (opts.keepEmbeddings) out.embeddings = { dim, images: img, captions: txt, pairImage, pairCaption };
    return out;
  } finally {
    await enc.close();
  }
}

export function registerTrainsetInCatalog(ws: Workspace, t: Trainset): void {
  const db = openCatalog(ws.catalogPath);
  try {
    registerTrainset(db, t);
  } finally {
    db.close();
  }
}

/** q-quantile of `values` (linear interpolation between order statistics, numpy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const s = Array.from(values).sort((a, b) => a - b);
  if (s.length === 0) throw new Error('quantile of an empty sample');
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;
export const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;
