/**
 * The contracts between the indexer (model runtime, vector indexes) and its users (the server,
 * evaluation, the trainer's defences). Implementations live beside this file.
 */

/** A loaded model package's encoders. Embeddings come back L2-normalised, one row per input. */
export interface ClipEncoder {
  readonly modelId: string;
  readonly dim: number;
  encodeTexts(texts: string[]): Promise<Float32Array[]>;
  /** Images as encoded file bytes (PNG/JPEG/…) or paths to image files. */
  encodeImages(images: Array<Uint8Array | string>): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export interface Neighbour {
  /** Row in the index's vectors / ids. */
  row: number;
  id: string;
  /** Cosine similarity (vectors are normalised). */
  score: number;
}

/** A searchable set of normalised vectors with string ids (HNSW or exact). */
export interface VectorSearch {
  readonly size: number;
  readonly dim: number;
  search(query: Float32Array, k: number): Neighbour[];
}
