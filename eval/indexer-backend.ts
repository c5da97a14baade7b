import { openCatalog } from '../core/catalog.js';
import type { Workspace } from '../core/workspace.js';
import type { Dataset, Split } from '../data/dataset.js';
import { ensureIndex } from '../indexer/index-build.js';
import { LazyEncoder } from '../indexer/lazy-encoder.js';
import { loadModelPackage } from '../indexer/package.js';
import type { HnswParams } from '../indexer/vector-index.js';
import type { EvalBackend, EvalModel } from './backend.js';

export interface IndexerEvalBackendOptions {
  /** onnxruntime intra-op threads per session (default 2). */
  threads?: number;
  /** HNSW parameters of indexes built for evaluation (default: the indexer's). */
  hnsw?: Partial<HnswParams>;
  /** Record index builds in the catalog (default true). */
  register?: boolean;
}

/**
 * The evaluation backend of the CLI, the server and studies (./backend.ts): the model package's ONNX
 * encoder (OnnxClipEncoder, as the server searches with) and the model's gallery index over the
 * split from the indexer's `ensureIndex` (reused when model and manifest hashes match, built
 * otherwise, exactly as `poisonlens index` and the server do). `exact` mode scores the index's
 * vectors; `ann` mode searches its HNSW graph.
 */
export function indexerEvalBackend(ws: Workspace, opts: IndexerEvalBackendOptions = {}): EvalBackend {
  return {
    async openModel(modelId: string, dataset: Dataset, split: Split, o): Promise<EvalModel> {
      const pkg = loadModelPackage(ws, modelId);
      const encoder = new LazyEncoder(pkg, opts.threads ?? 2);
      try {
        const db = opts.register ?? true ? openCatalog(ws.catalogPath) : undefined;
        let index;
        try {
          ({ index } = await ensureIndex(ws, {
            model: modelId,
            dataset: dataset.name,
            split,
            hnsw: opts.hnsw,
            db,
            onProgress: (phase, done, total) => o.onProgress?.({ phase: `index ${modelId} ${dataset.name}/${split}: ${phase}`, done, total }),
          }));
        } finally {
          db?.close();
        }
        const { ids, vectors, card } = index;
        const dim = card.dim;
        return {
          id: modelId,
          encoder,
          ids,
          vectors: ids.map((_, r) => vectors.subarray(r * dim, (r + 1) * dim)),
          ann: index.hnsw,
          indexKind: `hnsw M=${card.hnsw.m} efConstruction=${card.hnsw.efConstruction}`,
          close: () => encoder.close(),
        };
      } catch (err) {
        await encoder.close();
        throw err;
      }
    },
  };
}
