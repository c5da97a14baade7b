import type { ClipEncoder, VectorSearch } from '../../indexer/types.js';
import type { ModelPackage } from './model-repository.js';
import type { ServedDataset } from './dataset-repository.js';

/** Progress of a long load (index build): shown by GET /api/models/:id and printed on stderr. */
export interface LoadProgress {
  phase: string;
  done: number;
  total: number;
}

/** A gallery index of one model over one dataset split, as the server searches it. */
export interface GalleryIndex {
  search: VectorSearch;
  /** Image id of each row (clip-retrieval's integer ids are these rows). */
  ids: string[];
  /** The normalised vector of a row, when the index keeps them (for deduplication). */
  vector?(row: number): Float32Array;
  /** Where it came from, for /metrics and the models page. */
  info: { model: string; dataset: string; split: string; kind: string; built: boolean; path?: string };
  close?(): Promise<void> | void;
}

export interface OpenIndexOptions {
  split: string;
  /** Build the index when it is missing or stale; otherwise such a request is refused. */
  build: boolean;
  onProgress?: (p: LoadProgress) => void;
}

/**
 * The server's one door to the model runtime and vector indexes (the indexer's work). The
 * server codes against this; `indexer-runtime-repository.ts` implements it with the indexer's ONNX encoders
 * and HNSW indexes, and tests of the server use that real implementation.
 */
export interface ModelRuntime {
  /** `threads`: onnxruntime's intra-op threads (default: the runtime's setting). */
  openEncoder(pkg: ModelPackage, threads?: number): Promise<ClipEncoder>;
  /**
   * Checks a package's files against its checksums ahead of time (the server does this for every
   * package in the background after start), so that a later load needs no hashing; throws on a
   * corrupt package. Optional: a runtime without it checks at load.
   */
  verifyPackage?(pkg: ModelPackage): Promise<void>;
  openIndex(pkg: ModelPackage, encoder: ClipEncoder, dataset: ServedDataset, opts: OpenIndexOptions): Promise<GalleryIndex>;
}
