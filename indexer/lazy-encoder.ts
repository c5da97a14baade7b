import { OnnxClipEncoder } from './encoder.js';
import type { ModelPackage } from './package.js';
import type { ClipEncoder } from './types.js';

/**
 * A package's encoder whose graphs are opened on first use, each alone: an evaluation whose
 * captions come from the on-disk cache (./text-cache.ts) and whose gallery comes from the index
 * opens no onnxruntime session at all, which is most of a repeated evaluation's time.
 */
export class LazyEncoder implements ClipEncoder {
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
