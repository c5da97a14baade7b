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
