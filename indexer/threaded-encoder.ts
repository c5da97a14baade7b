/**
 * ThreadedClipEncoder: a model package's ONNX graphs opened and run in a worker thread
 * (encoder-worker.mjs), implementing ClipEncoder. onnxruntime-node creates sessions and runs them
 * synchronously on the calling thread; a server that did so on its event loop stopped answering
 * for the whole session creation (hundreds of milliseconds per graph) whenever it loaded a model,
 * e.g. during a hot swap. Here the event loop only tokenizes, preprocesses images and passes
 * buffers; the text graph is opened at start, the image graph on the first image request.
 *
 * The tokenizer is shared between encoders whose vocabulary files have the same content (a
 * world's models all carry the same one), so loading another model reads no vocabulary either.
 */
import { Worker } from 'node:worker_threads';
import { UserError } from '../core/errors.js';
import { encodeImageMatrix, encodeTextMatrix, rows, trimTokenRows } from './encode-batches.js';
import { LruCache } from './lru.js';
import { fileSha256, type ModelPackage } from './package.js';
import type { ImageSpec } from './preprocess.js';
import { ClipTokenizer } from './tokenizer.js';
import type { ClipEncoder } from './types.js';

export interface ThreadedEncoderOptions {
  /** onnxruntime intra-op threads per session (default 2). */
  intraOpNumThreads?: number;
  /** Texts per graph call (default 64). */
  textBatchSize?: number;
  /** Images per graph call (default 64). */
  imageBatchSize?: number;
  /** Text embeddings kept in an LRU cache (default 10,000; 0 disables it). */
  textCacheSize?: number;
  /** Let onnxruntime's intra-op threads busy-wait (default false, as OnnxClipEncoder). */
  spinning?: boolean;
}

interface Pending {
  resolve: (v: Float32Array) => void;
  reject: (e: Error) => void;
}

const tokenizers = new Map<string, Promise<ClipTokenizer>>();

/** One tokenizer per vocabulary content and context length. */
function sharedTokenizer(pkg: ModelPackage): Promise<ClipTokenizer> {
  const ctx = pkg.card.text.contextLength;
  return fileSha256(pkg.vocabPath).then((sha) => {
    const key = `${sha}:${ctx}`;
    let t = tokenizers.get(key);
    if (!t) {
      t = Promise.resolve().then(() => ClipTokenizer.fromFile(pkg.vocabPath, { contextLength: ctx }));
      t.catch(() => tokenizers.delete(key));
      tokenizers.set(key, t);
    }
    return t;
  });
}

export class ThreadedClipEncoder implements ClipEncoder {
  readonly modelId: string;
  readonly dim: number;
  readonly imageSpec: ImageSpec;
  readonly contextLength: number;
  readonly textBatchSize: number;
  readonly imageBatchSize: number;
  readonly textCache: LruCache<string, Float32Array>;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    readonly pkg: ModelPackage,
    readonly tokenizer: ClipTokenizer,
    private readonly worker: Worker,
    opts: ThreadedEncoderOptions,
    /** The text graph's sequence axis is free: token rows are cut after their padding (trimTokenRows). */
    private readonly textSeqFree: boolean,
  ) {
    this.modelId = pkg.id;
    this.dim = pkg.card.embedDim;
    this.imageSpec = pkg.card.image;
    this.contextLength = pkg.card.text.contextLength;
    this.textBatchSize = opts.textBatchSize ?? 64;
    this.imageBatchSize = opts.imageBatchSize ?? 64;
    this.textCache = new LruCache(opts.textCacheSize ?? 10_000);
    worker.on('message', (m: { type: string; id: number; buffer?: ArrayBuffer; message?: string; bad?: boolean }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.type === 'result') p.resolve(new Float32Array(m.buffer!));
      else p.reject(m.bad ? new UserError(m.message ?? 'bad graph', 'bad_model') : new UserError(`encoder of ${this.modelId}: ${m.message}`, 'encoder_failed', 500));
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`encoder worker of ${this.modelId} exited with code ${code}`));
    });
    // Idle workers never hold the process open; one with requests in flight does.
    worker.unref();
  }

  /** Starts the worker and resolves once its text graph is open (a bad graph: UserError bad_model). */
  static async start(pkg: ModelPackage, opts: ThreadedEncoderOptions = {}): Promise<ThreadedClipEncoder> {
    const threads = opts.intraOpNumThreads ?? 2;
    if (!Number.isInteger(threads) || threads < 1) throw new UserError(`intraOpNumThreads must be a positive integer, got ${threads}`);
    const tokenizer = sharedTokenizer(pkg);
    let seqFree = false;
    tokenizer.catch(() => undefined);
    const worker = new Worker(new URL('./encoder-worker.mjs', import.meta.url), {
      workerData: {
        textOnnx: pkg.textOnnx,
        imageOnnx: pkg.imageOnnx,
        threads,
        spinning: opts.spinning === true,
        contextLength: pkg.card.text.contextLength,
        size: pkg.card.image.size,
        dim: pkg.card.embedDim,
      },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        const onExit = (code: number) => reject(new Error(`encoder worker of ${pkg.id} exited with code ${code} while loading`));
        worker.once('error', onError);
        worker.once('exit', onExit);
        worker.once('message', (m: { type: string; message?: string; bad?: boolean; seqFree?: boolean }) => {
          worker.off('error', onError);
          worker.off('exit', onExit);
          seqFree = m.seqFree === true;
          if (m.type === 'ready') resolve();
          else reject(m.bad ? new UserError(m.message ?? 'bad graph', 'bad_model') : new Error(m.message));
        });
      });
      return new ThreadedClipEncoder(pkg, await tokenizer, worker, opts, seqFree);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  private call(type: 'text' | 'image', n: number, buffer: ArrayBuffer, len?: number): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error(`encoder ${this.modelId} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ type, id, n, len, buffer }, [buffer]);
    });
  }

  /** Token rows (int64 [n × contextLength]) → normalised [n × dim]; the ids' buffer is transferred. */
  encodeTokenIds(ids: BigInt64Array, n: number): Promise<Float32Array> {
    if (ids.length !== n * this.contextLength) return Promise.reject(new Error(`encodeTokenIds: ${ids.length} ids for ${n} rows of ${this.contextLength}`));
    if (n === 0) return Promise.resolve(new Float32Array(0));
    const feed = this.textSeqFree ? trimTokenRows(ids, n, this.contextLength) : { ids, len: this.contextLength };
    const own = feed.ids.byteOffset === 0 && feed.ids.byteLength === feed.ids.buffer.byteLength ? feed.ids : feed.ids.slice();
    return this.call('text', n, own.buffer as ArrayBuffer, feed.len);
  }

  /** `n` preprocessed images, float32 [n,3,S,S] → normalised [n × dim]. */
  encodePixels(pixels: Float32Array, n: number): Promise<Float32Array> {
    const size = this.imageSpec.size;
    if (pixels.length !== n * 3 * size * size) return Promise.reject(new Error(`encodePixels: ${pixels.length} values for ${n} images of ${size}px`));
    if (n === 0) return Promise.resolve(new Float32Array(0));
    const own = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength ? pixels : pixels.slice();
    return this.call('image', n, own.buffer as ArrayBuffer);
  }

  async encodeTexts(texts: string[]): Promise<Float32Array[]> {
    return rows(await encodeTextMatrix(this, texts), texts.length, this.dim);
  }

  async encodeImages(images: Array<Uint8Array | string>): Promise<Float32Array[]> {
    return rows(await encodeImageMatrix(this, images), images.length, this.dim);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.textCache.clear();
    for (const p of this.pending.values()) p.reject(new Error(`encoder ${this.modelId} is closed`));
    this.pending.clear();
    this.worker.ref(); // held until it has exited
    this.worker.postMessage({ type: 'close' });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5000);
      t.unref();
      this.worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
