import { Worker } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ManifestEntry } from '../dataset.js';
import { SceneMaker, type SceneJob } from './scene.js';
import type { BatchReply, WorkerInit } from './worker.js';
import type { AtlasData } from './atlas.js';
import { DEFAULT_STYLE, type SceneStyle } from './style.js';

/**
 * Renders scene jobs in batches and yields their manifest entries in job order, whichever
 * thread made them. The calling thread renders every (workers + 1)-th batch itself, between
 * writing manifest lines, so on a 2-core machine one worker plus this thread keep both cores
 * busy without paying a second worker's start-up (~0.7 s of CPU to load the TypeScript).
 * At most 2 batches per thread are in flight: memory stays flat however many images there are.
 */
export interface PoolOptions {
  size: number;
  seed: number;
  atlas: AtlasData;
  outDir: string;
  /** the world's style (style.ts); the default world's when absent */
  style?: SceneStyle;
  /** extra render threads; 0 renders everything on the calling thread */
  workers: number;
  batch?: number;
}

interface Pending {
  /** jobs this thread still has to render (inline batches) */
  jobs?: SceneJob[];
  /** entries once made */
  done?: ManifestEntry[];
  promise?: Promise<ManifestEntry[]>;
}

export class RenderPool {
  private readonly maker: SceneMaker;
  private readonly madeDirs = new Set<string>();
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (e: ManifestEntry[]) => void; reject: (err: Error) => void }>();
  private failure: Error | null = null;

  constructor(private readonly opts: PoolOptions) {
    const style = opts.style ?? DEFAULT_STYLE;
    this.maker = new SceneMaker(opts.size, opts.seed, opts.atlas, style);
    const init: WorkerInit = { size: opts.size, seed: opts.seed, atlas: opts.atlas, outDir: opts.outDir, style };
    for (let i = 0; i < opts.workers; i++) {
      const w = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: init });
      w.on('message', (reply: BatchReply) => {
        const p = this.waiting.get(reply.id);
        if (!p) return;
        this.waiting.delete(reply.id);
        if ('error' in reply) p.reject(new Error(`scene worker failed: ${reply.error}`));
        else p.resolve(reply.entries);
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`scene worker exited with code ${code}`));
      });
      this.workers.push(w);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.waiting.values()) p.reject(err);
    this.waiting.clear();
  }

  private renderHere(jobs: SceneJob[]): ManifestEntry[] {
    return jobs.map((job) => {
      const { entry, png } = this.maker.make(job);
      const path = join(this.opts.outDir, entry.file);
      const dir = dirname(path);
      if (!this.madeDirs.has(dir)) (mkdirSync(dir, { recursive: true }), this.madeDirs.add(dir));
      writeFileSync(path, png);
      return entry;
    });
  }

  private dispatch(id: number, jobs: SceneJob[]): Pending {
    const lanes = this.workers.length + 1;
    if (id % lanes === 0) return { jobs };
    const p: Pending = {};
    p.promise = this.failure
      ? Promise.reject(this.failure)
      : new Promise<ManifestEntry[]>((resolve, reject) => {
          this.waiting.set(id, { resolve, reject });
          this.workers[(id % lanes) - 1].postMessage({ id, jobs });
        });
    p.promise.then((e) => (p.done = e)).catch(() => {}); // a failure is seen when its turn comes
    return p;
  }

  async *run(jobs: SceneJob[]): AsyncGenerator<ManifestEntry[]> {
    const batch = this.opts.batch ?? 64;
    const total = Math.ceil(jobs.length / batch);
    const pending: Pending[] = [];
    let next = 0;
    const fill = () => {
      while (next < total && pending.length < (this.workers.length + 1) * 2) {
        pending.push(this.dispatch(next, jobs.slice(next * batch, (next + 1) * batch)));
        next++;
      }
    };
    fill();
    while (pending.length) {
      const head = pending[0];
      if (!head.done) {
        // while a worker's batch is not back, make this thread's next batch rather than wait
        const mine = pending.find((p) => p.jobs && !p.done);
        if (mine) {
          mine.done = this.renderHere(mine.jobs!);
          continue;
        }
        await head.promise;
      }
      pending.shift();
      fill();
      yield head.done!;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
