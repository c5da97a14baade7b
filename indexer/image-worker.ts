/**
 * ImageEncodeWorker: a model package's image graph running in a worker thread (image-worker.mjs).
 * `encode` transfers a batch of preprocessed pixels there and resolves with the L2-normalised
 * embeddings, leaving the calling thread free to prepare the next batch meanwhile.
 */
import { Worker } from 'node:worker_threads';
import { UserError } from '../core/errors.js';
import { l2NormalizeRows } from './encoder.js';
import type { ModelPackage } from './package.js';

interface Pending {
  resolve: (v: Float32Array) => void;
  reject: (e: Error) => void;
}

export class ImageEncodeWorker {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    readonly dim: number,
    readonly size: number,
  ) {
    worker.on('message', (m: { type: string; id: number; buffer?: ArrayBuffer; message?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(l2NormalizeRows(new Float32Array(m.buffer!), this.dim));
      else p.reject(new UserError(`image encoder worker: ${m.message}`, 'encoder_failed', 500));
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`image encoder worker exited with code ${code}`));
    });
  }

  /**
   * Starts the worker and waits until its session is loaded. `spinning` lets onnxruntime's
   * intra-op threads busy-wait between operators (default off here: those cycles are what the
   * main thread needs to prepare the next batch on a small machine).
   */
  static start(pkg: ModelPackage, threads = 2, spinning = false): Promise<ImageEncodeWorker> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./image-worker.mjs', import.meta.url), {
        workerData: { modelPath: pkg.imageOnnx, threads, size: pkg.card.image.size, spinning },
      });
      const onError = (err: Error) => reject(err);
      worker.once('error', onError);
      worker.once('message', (m: { type: string; message?: string }) => {
        worker.off('error', onError);
        if (m.type === 'ready') resolve(new ImageEncodeWorker(worker, pkg.card.embedDim, pkg.card.image.size));
        else {
          void worker.terminate();
          reject(new UserError(`cannot load ${pkg.imageOnnx}: ${m.message}`, 'bad_model'));
        }
      });
    });
  }

  /** Encodes `n` images of float32 [n,3,S,S]; the buffer is transferred (unusable afterwards). */
  encode(pixels: Float32Array, n: number): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('image encoder worker is closed'));
    if (pixels.length !== n * 3 * this.size * this.size) return Promise.reject(new Error(`encode: ${pixels.length} values for ${n} images`));
    const id = this.nextId++;
    // Transfer a buffer of exactly this batch (copy first if `pixels` is a view on a larger one).
    const own = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength ? pixels : pixels.slice();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'encode', id, n, buffer: own.buffer }, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.postMessage({ type: 'close' });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5000);
      this.worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
