/**
 * OnnxClipEncoder: a model package's two ONNX graphs run with onnxruntime-node, implementing
 * ClipEncoder. Texts go through the CLIP tokenizer, images through the package's preprocessing;
 * both are encoded in batches and come back L2-normalised. Repeated query texts are answered
 * from an LRU cache of their embeddings.
 *
 * onnxruntime-node's `run` occupies the calling thread while it computes (the promise resolves
 * after the work is done), so concurrency comes from its intra-op threads, not from overlapping
 * calls. The indexer overlaps image decoding (sharp, on libuv's pool) with encoding.
 */
import * as ort from 'onnxruntime-node';
import { UserError } from '../core/errors.js';
import { dot } from './dot.js';
import { encodeImageMatrix, encodeTextMatrix, rows, trimTokenRows } from './encode-batches.js';
import { LruCache } from './lru.js';
import { readModelPackage, type ModelPackage } from './package.js';
import type { ImageSpec } from './preprocess.js';
import { ClipTokenizer } from './tokenizer.js';
import type { ClipEncoder } from './types.js';

export interface EncoderOptions {
  /** onnxruntime intra-op threads per session (default 2: the machines this runs on). */
  intraOpNumThreads?: number;
  /** Texts per text-graph call (default 64). */
  textBatchSize?: number;
  /** Images per image-graph call (default 64). */
  imageBatchSize?: number;
  /** Text embeddings kept in the LRU cache (default 10,000; 0 disables it). */
  textCacheSize?: number;
  /** Load only these graphs (default both). */
  towers?: Array<'image' | 'text'>;
  /**
   * Let onnxruntime's intra-op threads busy-wait between operators (onnxruntime's own default).
   * Default false here: on a small shared machine (2 cores, other processes) spinning threads
   * measured 3x slower batch-1 inference at twice the CPU time; on an idle many-core machine
   * spinning can shave a little latency.
   */
  spinning?: boolean;
}

/** Normalises each row of a row-major [n × dim] matrix in place (zero rows stay zero). */
export function l2NormalizeRows(m: Float32Array, dim: number): Float32Array {
  for (let off = 0; off < m.length; off += dim) {
    const row = m.subarray(off, off + dim);
    const s = dot(row, row);
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let j = 0; j < dim; j++) m[off + j] *= inv;
    }
  }
  return m;
}

/** Whether a text session's `input_ids` has a named (free) sequence axis instead of a fixed length. */
export function freeSequenceAxis(session: ort.InferenceSession): boolean {
  const m = session.inputMetadata.find((x) => x.name === 'input_ids');
  return Boolean(m && m.isTensor && typeof m.shape[1] === 'string');
}

export class OnnxClipEncoder implements ClipEncoder {
  readonly modelId: string;
  readonly dim: number;
  readonly imageSpec: ImageSpec;
  readonly contextLength: number;
  readonly textBatchSize: number;
  readonly imageBatchSize: number;
  readonly textCache: LruCache<string, Float32Array>;
  /** The text graph's sequence axis is free: token rows are cut after their padding (trimTokenRows). */
  private readonly textSeqFree: boolean;
  private closed = false;

  private constructor(
    readonly pkg: ModelPackage,
    readonly tokenizer: ClipTokenizer,
    private readonly imageSession: ort.InferenceSession | null,
    private readonly textSession: ort.InferenceSession | null,
    opts: EncoderOptions,
  ) {
    this.modelId = pkg.id;
    this.textSeqFree = textSession !== null && freeSequenceAxis(textSession);
    this.dim = pkg.card.embedDim;
    this.imageSpec = pkg.card.image;
    this.contextLength = pkg.card.text.contextLength;
    this.textBatchSize = opts.textBatchSize ?? 64;
    this.imageBatchSize = opts.imageBatchSize ?? 64;
    this.textCache = new LruCache(opts.textCacheSize ?? 10_000);
  }

  /** Loads the package in `dir` (validated) and creates its sessions. */
  static async load(pkgOrDir: ModelPackage | string, opts: EncoderOptions = {}): Promise<OnnxClipEncoder> {
    const pkg = typeof pkgOrDir === 'string' ? readModelPackage(pkgOrDir) : pkgOrDir;
    const threads = opts.intraOpNumThreads ?? 2;
    if (!Number.isInteger(threads) || threads < 1) throw new UserError(`intraOpNumThreads must be a positive integer, got ${threads}`);
    const sessionOpts: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...(opts.spinning !== true ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    };
    const towers = opts.towers ?? ['image', 'text'];
    const open = async (path: string, input: string, output: string) => {
      let s: ort.InferenceSession;
      try {
        s = await ort.InferenceSession.create(path, sessionOpts);
      } catch (err) {
        throw new UserError(`cannot load ${path}: ${(err as Error).message.split('\n')[0]}`, 'bad_model');
      }
      if (!s.inputNames.includes(input) || !s.outputNames.includes(output)) {
        await s.release();
        throw new UserError(`${path} has inputs [${s.inputNames}] and outputs [${s.outputNames}]; expected ${input} → ${output}`, 'bad_model');
      }
      return s;
    };
    const tokenizer = ClipTokenizer.fromFile(pkg.vocabPath, { contextLength: pkg.card.text.contextLength });
    const image = towers.includes('image') ? await open(pkg.imageOnnx, 'pixel_values', 'image_embeds') : null;
    let text: ort.InferenceSession | null = null;
    try {
      text = towers.includes('text') ? await open(pkg.textOnnx, 'input_ids', 'text_embeds') : null;
    } catch (err) {
      await image?.release();
      throw err;
    }
    const enc = new OnnxClipEncoder(pkg, tokenizer, image, text, opts);
    // A one-row probe: the graphs' output width must be model.json's embedDim.
    if (image) {
      const probe = await enc.encodePixels(new Float32Array(3 * enc.imageSpec.size * enc.imageSpec.size), 1);
      if (probe.length !== enc.dim) {
        await enc.close();
        throw new UserError(`${pkg.imageOnnx} returns ${probe.length}-dimensional embeddings but model.json says embedDim ${enc.dim}`, 'bad_model');
      }
    }
    return enc;
  }

  private need(session: ort.InferenceSession | null, which: string): ort.InferenceSession {
    if (this.closed) throw new Error(`encoder ${this.modelId} is closed`);
    if (!session) throw new Error(`encoder ${this.modelId} was loaded without its ${which} graph`);
    return session;
  }

  /**
   * Encodes `n` preprocessed images, float32 [n, 3, S, S] row-major, in one graph call;
   * returns the L2-normalised embeddings as one [n × dim] matrix.
   */
  async encodePixels(pixels: Float32Array, n: number): Promise<Float32Array> {
    const s = this.need(this.imageSession, 'image');
    const size = this.imageSpec.size;
    if (pixels.length !== n * 3 * size * size) throw new Error(`encodePixels: ${pixels.length} values for ${n} images of ${size}px`);
    if (n === 0) return new Float32Array(0);
    const out = await s.run({ pixel_values: new ort.Tensor('float32', pixels, [n, 3, size, size]) });
    const t = out.image_embeds;
    const data = new Float32Array(t.data as Float32Array);
    t.dispose?.();
    return l2NormalizeRows(data, this.dim);
  }

  /** Encodes token rows (BigInt64 [n × contextLength]) in one graph call; normalised [n × dim]. */
  async encodeTokenIds(ids: BigInt64Array, n: number): Promise<Float32Array> {
    const s = this.need(this.textSession, 'text');
    if (ids.length !== n * this.contextLength) throw new Error(`encodeTokenIds: ${ids.length} ids for ${n} rows of ${this.contextLength}`);
    if (n === 0) return new Float32Array(0);
    const feed = this.textSeqFree ? trimTokenRows(ids, n, this.contextLength) : { ids, len: this.contextLength };
    const out = await s.run({ input_ids: new ort.Tensor('int64', feed.ids, [n, feed.len]) });
    const t = out.text_embeds;
    const data = new Float32Array(t.data as Float32Array);
    t.dispose?.();
    return l2NormalizeRows(data, this.dim);
  }

  /** Texts → one normalised [n × dim] matrix, batched, through the LRU cache. */
  encodeTextMatrix(texts: string[]): Promise<Float32Array> {
    return encodeTextMatrix(this, texts);
  }

  async encodeTexts(texts: string[]): Promise<Float32Array[]> {
    return rows(await this.encodeTextMatrix(texts), texts.length, this.dim);
  }

  /** Images (bytes or paths) → one normalised [n × dim] matrix, batched. */
  encodeImageMatrix(images: Array<Uint8Array | string>): Promise<Float32Array> {
    return encodeImageMatrix(this, images);
  }

  async encodeImages(images: Array<Uint8Array | string>): Promise<Float32Array[]> {
    return rows(await this.encodeImageMatrix(images), images.length, this.dim);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.imageSession?.release();
    await this.textSession?.release();
    this.textCache.clear();
  }
}
