import { openCatalog } from '../core/catalog.js';
import type { Workspace } from '../core/workspace.js';
import type { Dataset, Split } from '../data/dataset.js';
import { ensureIndex } from './build.js';
import { OnnxClipEncoder } from './encoder.js';
import type { EvalBackend, EvalModel } from './evaluate.js';
import { loadModelPackage, type ModelPackage } from './package.js';
import type { ClipEncoder } from './types.js';
import type { HnswParams } from './vector-index.js';

export interface IndexerEvalBackendOptions {
  /** onnxruntime intra-op threads per session (default 2). */
  threads?: number;
  /** HNSW parameters of indexes built for evaluation (default: the indexer's). */
  hnsw?: Partial<HnswParams>;
  /** Record index builds in the catalog (default true). */
  register?: boolean;
}

/**
 * The evaluation backend of the CLI (and of `evaluate` by default): the model package's ONNX
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

/**
 * A package's encoder whose graphs are opened on first use, each alone: an evaluation whose
 * captions come from the on-disk cache (text-cache.ts) and whose gallery comes from the index
 * opens no onnxruntime session at all, which is most of a repeated evaluation's time.
 */
class LazyEncoder implements ClipEncoder {
  readonly modelId: string;
  readonly dim: number;
  private text: Promise<OnnxClipEncoder> | null = null;
  private image: Promise<OnnxClipEncoder> | null = null;

  constructor(
    private readonly pkg: ModelPackage,
    private readonly threads: number,
  ) {
    this.modelId = pkg.id;
    this.dim = pkg.card.embedDim;
  }

  private tower(which: 'text' | 'image'): Promise<OnnxClipEncoder> {
    const open = () => OnnxClipEncoder.load(this.pkg, { intraOpNumThreads: this.threads, towers: [which] });
    if (which === 'text') return (this.text ??= open());
    return (this.image ??= open());
  }

  async encodeTexts(texts: string[]): Promise<Float32Array[]> {
    return (await this.tower('text')).encodeTexts(texts);
  }

  async encodeImages(images: Array<Uint8Array | string>): Promise<Float32Array[]> {
    return (await this.tower('image')).encodeImages(images);
  }

  async close(): Promise<void> {
    for (const e of await Promise.allSettled([this.text, this.image].filter((x): x is Promise<OnnxClipEncoder> => x !== null))) {
      if (e.status === 'fulfilled') await e.value.close();
    }
  }
}
