/**
 * Batched, cached encoding on top of an encoder's two primitives (token ids → vectors, pixels →
 * vectors), shared by the in-process encoder (encoder.ts) and the worker-thread one
 * (threaded-encoder.ts). No onnxruntime here: the threaded encoder keeps it off the main thread.
 */
import type { LruCache } from './lru.js';
import { preprocessBatch, type ImageSpec } from './preprocess.js';
import type { ClipTokenizer } from './tokenizer.js';

/** The rows of a row-major [n × dim] matrix, each a copy (callers may keep or change them without touching a cache). */
export function rows(m: Float32Array, n: number, dim: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) out.push(m.slice(i * dim, (i + 1) * dim));
  return out;
}

/**
 * Token rows [n × context] cut after the longest row's last non-padding token (at least 2
 * columns): a text graph whose sequence axis is free (the engine's export, TextTower) gives the
 * same embeddings for a fraction of the work — the causal mask keeps the padding from the pooled
 * end token anyway.
 */
export function trimTokenRows(ids: BigInt64Array, n: number, context: number): { ids: BigInt64Array; len: number } {
  let len = 2;
  for (let r = 0; r < n; r++) {
    for (let j = context - 1; j >= len; j--) {
      if (ids[r * context + j] !== 0n) {
        len = j + 1;
        break;
      }
    }
  }
  if (len >= context) return { ids, len: context };
  const out = new BigInt64Array(n * len);
  for (let r = 0; r < n; r++) out.set(ids.subarray(r * context, r * context + len), r * len);
  return { ids: out, len };
}

/** What batched, cached encoding needs of an encoder: its settings, cache and two primitives (in process or in a worker). */
export interface BatchedEncoder {
  readonly dim: number;
  readonly textBatchSize: number;
  readonly imageBatchSize: number;
  readonly imageSpec: ImageSpec;
  readonly tokenizer: ClipTokenizer;
  readonly textCache: LruCache<string, Float32Array>;
  encodeTokenIds(ids: BigInt64Array, n: number): Promise<Float32Array>;
  encodePixels(pixels: Float32Array, n: number): Promise<Float32Array>;
}

/** Texts → one normalised [n × dim] matrix, batched, through the encoder's LRU cache; each distinct text encoded once. */
export async function encodeTextMatrix(enc: BatchedEncoder, texts: string[]): Promise<Float32Array> {
  const dim = enc.dim;
  const out = new Float32Array(texts.length * dim);
  const todo: number[] = [];
  const firstOf = new Map<string, number>();
  texts.forEach((t, i) => {
    const hit = enc.textCache.get(t);
    if (hit) out.set(hit, i * dim);
    else if (!firstOf.has(t)) {
      firstOf.set(t, i);
      todo.push(i);
    }
  });
  for (let b = 0; b < todo.length; b += enc.textBatchSize) {
    const idx = todo.slice(b, b + enc.textBatchSize);
    const ids = enc.tokenizer.tokenizeBatch(idx.map((i) => texts[i]));
    const emb = await enc.encodeTokenIds(ids, idx.length);
    idx.forEach((i, r) => {
      const v = emb.slice(r * dim, (r + 1) * dim);
      out.set(v, i * dim);
      enc.textCache.set(texts[i], v);
    });
  }
  // Duplicates within the call.
  texts.forEach((t, i) => {
    const first = firstOf.get(t);
    if (first !== undefined && first !== i) out.copyWithin(i * dim, first * dim, (first + 1) * dim);
  });
  return out;
}

/** Images (bytes or paths) → one normalised [n × dim] matrix, batched. */
export async function encodeImageMatrix(enc: BatchedEncoder, images: Array<Uint8Array | string>): Promise<Float32Array> {
  const out = new Float32Array(images.length * enc.dim);
  for (let b = 0; b < images.length; b += enc.imageBatchSize) {
    const batch = images.slice(b, b + enc.imageBatchSize);
    const pixels = await preprocessBatch(batch, enc.imageSpec);
    out.set(await enc.encodePixels(pixels, batch.length), b * enc.dim);
  }
  return out;
}
