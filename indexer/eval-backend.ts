import { join } from 'node:path';
import type { Workspace } from '../core/workspace.js';
import type { Dataset, Split } from '../data/dataset.js';
import { OnnxClipEncoder } from './encoder.js';
import type { EvalBackend, EvalModel } from './evaluate.js';
import { loadModelPackage } from './package.js';
import type { Neighbour, VectorSearch } from './types.js';

export interface IndexerEvalBackendOptions {
  /** onnxruntime intra-op threads per session (default 2). */
  threads?: number;
}

/**
 * The evaluation backend of the CLI: the model package's ONNX encoder (the same OnnxClipEncoder
 * the server searches with) and the model's gallery over the split.
 *
 * The gallery is embedded in memory with that encoder, and `ann` searches it exhaustively, until
 * the indexer's HNSW index builder is available; EvalModel.indexKind says which one was used.
 */
export function indexerEvalBackend(ws: Workspace, opts: IndexerEvalBackendOptions = {}): EvalBackend {
  return {
    async openModel(modelId: string, dataset: Dataset, split: Split, o): Promise<EvalModel> {
      const pkg = loadModelPackage(ws, modelId);
      const encoder = await OnnxClipEncoder.load(pkg, { intraOpNumThreads: opts.threads ?? 2 });
      try {
        const entries = dataset.entries.filter((e) => e.split === split);
        const ids = entries.map((e) => e.id);
        const dim = encoder.dim;
        const matrix = new Float32Array(entries.length * dim);
        const batch = 64;
        for (let b = 0; b < entries.length; b += batch) {
          const part = entries.slice(b, b + batch);
          matrix.set(await encoder.encodeImageMatrix(part.map((e) => join(dataset.dir, e.file))), b * dim);
          o.onProgress?.({ phase: `embedding ${dataset.name}/${split} images (${modelId})`, done: Math.min(entries.length, b + batch), total: entries.length });
        }
        const vectors = ids.map((_, r) => matrix.subarray(r * dim, (r + 1) * dim));
        return { id: modelId, encoder, ids, vectors, ann: exactSearch(ids, vectors, dim), indexKind: 'exact-in-memory', close: () => encoder.close() };
      } catch (err) {
        await encoder.close();
        throw err;
      }
    },
  };
}

/** Brute-force search over normalised rows, sorted by score then id (the §5 order). */
function exactSearch(ids: string[], vectors: Float32Array[], dim: number): VectorSearch {
  return {
    size: ids.length,
    dim,
    search(q: Float32Array, k: number): Neighbour[] {
      const hits: Neighbour[] = vectors.map((v, row) => {
        let s = 0;
        for (let j = 0; j < dim; j++) s += v[j] * q[j];
        return { row, id: ids[row], score: s };
      });
      hits.sort((a, b) => (a.score !== b.score ? b.score - a.score : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return hits.slice(0, k);
    },
  };
}
