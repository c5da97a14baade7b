/**
 * Seeded synthetic embeddings for index tests and benchmarks: unit vectors in clusters, as a
 * gallery of images of a few hundred kinds looks to a CLIP encoder.
 */
import { Rng } from '../core/random.js';
import { dot } from './dot.js';

export interface ClusteredOptions {
  /** Number of clusters (default: max(10, round(sqrt(n)))). */
  clusters?: number;
  /** Norm of the noise added to a cluster centre before normalising (default 1: cos ≈ 0.7 to the centre). */
  spread?: number;
  seed?: number;
}

function gaussian(rng: Rng): number {
  // Box–Muller; 1 - u keeps log away from 0.
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function normalize(v: Float32Array, off: number, dim: number): void {
  const row = v.subarray(off, off + dim);
  const s = dot(row, row);
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let j = 0; j < dim; j++) v[off + j] *= inv;
}

/** A generator whose `take(n)` calls continue one stream: gallery and queries share centres. */
export class ClusteredVectors {
  private readonly rng: Rng;
  private readonly centres: Float32Array;
  readonly clusters: number;
  private readonly spread: number;

  constructor(
    readonly dim: number,
    opts: ClusteredOptions & { clusters: number },
  ) {
    this.rng = new Rng(opts.seed ?? 1);
    this.clusters = opts.clusters;
    this.spread = opts.spread ?? 1;
    this.centres = new Float32Array(this.clusters * dim);
    for (let i = 0; i < this.centres.length; i++) this.centres[i] = gaussian(this.rng);
    for (let c = 0; c < this.clusters; c++) normalize(this.centres, c * dim, dim);
  }

  /** `n` unit vectors, row-major [n × dim]. */
  take(n: number): Float32Array {
    const { dim } = this;
    const out = new Float32Array(n * dim);
    const sigma = this.spread / Math.sqrt(dim);
    for (let i = 0; i < n; i++) {
      const c = this.rng.int(0, this.clusters - 1);
      const off = i * dim;
      for (let j = 0; j < dim; j++) out[off + j] = this.centres[c * dim + j] + sigma * gaussian(this.rng);
      normalize(out, off, dim);
    }
    return out;
  }
}

/** `n` gallery vectors and `queries` query vectors from the same clusters. */
export function clusteredVectors(n: number, queries: number, dim: number, opts: ClusteredOptions = {}): { gallery: Float32Array; queries: Float32Array } {
  const gen = new ClusteredVectors(dim, { ...opts, clusters: opts.clusters ?? Math.max(10, Math.round(Math.sqrt(n))) });
  return { gallery: gen.take(n), queries: gen.take(queries) };
}
