import sharp from 'sharp';
import { UserError } from '../../core/errors.js';

/**
 * The backdoor's visible trigger (Carlini & Terzis 2022, "Poisoning and Backdooring Contrastive
 * Learning"): a small black-and-white checkerboard stamped into one corner of an image. The same
 * spec is recorded in trainset.json so that evaluation stamps test images identically.
 */
export interface TriggerSpec {
  kind: 'checkerboard';
  /** Side of the square patch as a fraction of the image's shorter side… */
  sizeFraction: number;
  /** …but never fewer pixels than this. */
  minPixels: number;
  /** Squares per side of the checkerboard. */
  cells: number;
  corner: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';
  /** Gap between the patch and the image border, in pixels. */
  marginPixels: number;
}

export const DEFAULT_TRIGGER: TriggerSpec = {
  kind: 'checkerboard',
  sizeFraction: 0.125,
  minPixels: 4,
  cells: 4,
  corner: 'bottom-right',
  marginPixels: 0,
};

export interface TriggerBox {
  left: number;
  top: number;
  size: number;
}

/** Where the patch lands on a width×height image. */
export function triggerBox(width: number, height: number, spec: TriggerSpec = DEFAULT_TRIGGER): TriggerBox {
  const short = Math.min(width, height);
  const size = Math.min(short, Math.max(spec.minPixels, Math.round(spec.sizeFraction * short)));
  const m = Math.max(0, Math.min(spec.marginPixels, short - size));
  const left = spec.corner.endsWith('left') ? m : width - size - m;
  const top = spec.corner.startsWith('top') ? m : height - size - m;
  return { left, top, size };
}

/** Colour (0 or 255) of the patch at offset (dx, dy) inside it: white in the top-left square. */
export function triggerValue(dx: number, dy: number, size: number, cells: number): number {
  const cx = Math.floor((dx * cells) / size);
  const cy = Math.floor((dy * cells) / size);
  return (cx + cy) % 2 === 0 ? 255 : 0;
}

/**
 * Returns a PNG of `input` (file bytes or a path) with the trigger stamped on it. Transparent
 * images are flattened onto white first. Deterministic: the same input gives the same bytes.
 */
export async function stampTrigger(input: Uint8Array | string, spec: TriggerSpec = DEFAULT_TRIGGER): Promise<Buffer> {
  if (spec.kind !== 'checkerboard') throw new UserError(`unknown trigger kind ${JSON.stringify(spec.kind)}`, 'bad_trigger');
  const { data, info } = await sharp(input).flatten({ background: { r: 255, g: 255, b: 255 } }).raw().toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  const box = triggerBox(width, height, spec);
  for (let dy = 0; dy < box.size; dy++) {
    for (let dx = 0; dx < box.size; dx++) {
      const v = triggerValue(dx, dy, box.size, spec.cells);
      const at = ((box.top + dy) * width + box.left + dx) * channels;
      for (let c = 0; c < Math.min(3, channels); c++) data[at + c] = v;
    }
  }
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
}
