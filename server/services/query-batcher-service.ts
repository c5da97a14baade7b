import { LruCache } from '../../indexer/lru.js';
import type { ClipEncoder } from '../../indexer/types.js';

interface Waiting {
  text: string;
  resolve: (v: Float32Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Encodes search queries, coalescing concurrent ones: the first query runs at once (no added
 * latency when the server is idle); queries that arrive while a graph call is running wait for
 * it and then go together in one batched call. Under load the text tower then runs once per
 * batch instead of once per request, which is what lets a 2-core server keep up.
 */
export class QueryBatcher {
  private waiting: Waiting[] = [];
  private running = false;

  constructor(
    private readonly encoder: ClipEncoder,
    private readonly maxBatch = 32,
  ) {}

  encode(text: string): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ text, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        try {
          const vectors = await this.encoder.encodeTexts(batch.map((w) => w.text));
          batch.forEach((w, i) => w.resolve(vectors[i]));
        } catch (err) {
          batch.forEach((w) => w.reject(err));
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/**
 * The server's one cache of query-text embeddings, shared by every model it encodes queries
 * with (the registry's loaded models and the alarm's reference models) and bounded as a whole by
 * the server's `textCacheSize`. The encoders it opens keep none of their own. Keyed by model,
 * package version and text, so a replaced package never answers with its predecessor's vectors.
 */
export class QueryTextCache {
  private readonly lru: LruCache<string, Float32Array>;

  constructor(capacity: number) {
    this.lru = new LruCache(capacity);
  }

  get size(): number {
    return this.lru.size;
  }

  /** `text`'s embedding by model `pkg`: from the cache, else `encode`d and kept. */
  async vector(pkg: { id: string; version: number }, text: string, encode: (text: string) => Promise<Float32Array>): Promise<Float32Array> {
    const key = `${pkg.id}\u0000${pkg.version}\u0000${text}`;
    let v = this.lru.get(key);
    if (!v) {
      v = await encode(text);
      this.lru.set(key, v);
    }
    return v;
  }
}
