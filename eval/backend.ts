/**
 * What evaluation needs from the outside: a model opened over a dataset split — its encoder and
 * its gallery index. `evaluate` (./evaluate.ts) is handed one by its caller: the indexer's ONNX
 * encoders and on-disk indexes (./indexer-backend.ts) for the CLI, the server and studies, a
 * hand-made one in tests. Types only, so the evaluation and every backend import it and not
 * each other.
 */
import type { Dataset, Split } from '../data/dataset.js';
import type { ClipEncoder, VectorSearch } from '../indexer/types.js';

export type EvalMode = 'exact' | 'ann';

/** A model opened for evaluation: its encoder and its gallery index over one split. */
export interface EvalModel {
  id: string;
  encoder: ClipEncoder;
  /** Image ids of the index rows. */
  ids: string[];
  /** The index's L2-normalised vectors, one per row. */
  vectors: Float32Array[];
  /** The HNSW search over the same rows (required for `ann` mode). */
  ann?: VectorSearch;
  /** What `ann` is ("hnsw", or an exhaustive stand-in), reported with ann results. */
  indexKind?: string;
  close(): Promise<void>;
}

export interface EvalProgress {
  phase: string;
  done: number;
  total: number;
}

/** Where evaluation gets models and indexes from (see the top of this file). */
export interface EvalBackend {
  openModel(modelId: string, dataset: Dataset, split: Split, opts: { mode: EvalMode; onProgress?: (p: EvalProgress) => void }): Promise<EvalModel>;
}
