import sharp from 'sharp';
import { UserError } from '../../core/errors.js';
import { PayloadTooLargeError, UnsupportedMediaError } from '../server-errors.js';

export interface ImageLimits {
  /** Largest accepted upload, bytes. */
  maxBytes: number;
  /** Largest accepted width × height (a guard against decompression bombs). */
  maxPixels: number;
}

export interface CheckedImage {
  bytes: Uint8Array;
  format: string;
  width: number;
  height: number;
}

const FORMATS = new Set(['png', 'jpeg', 'webp', 'gif']);

/**
 * Checks an uploaded query image: size, a real image of an accepted type (found by decoding,
 * never by the name or Content-Type the client sent), and a pixel count under the limit read
 * from the header before any pixel is decoded. The bytes stay in memory; uploads are never
 * written to disk.
 */
export async function checkImage(bytes: Uint8Array, limits: ImageLimits): Promise<CheckedImage> {
  if (bytes.length === 0) throw new UserError('the image is empty', 'invalid_image');
  if (bytes.length > limits.maxBytes) throw new PayloadTooLargeError(`the image is ${bytes.length} bytes; at most ${limits.maxBytes} are accepted`);
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new UnsupportedMediaError('the upload is not an image PoisonLens can read (PNG, JPEG, WebP or GIF)');
  }
  const format = meta.format ?? 'unknown';
  if (!FORMATS.has(format)) throw new UnsupportedMediaError(`image format ${JSON.stringify(format)} is not accepted; use PNG, JPEG, WebP or GIF`);
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!(width > 0 && height > 0)) throw new UserError('the image has no size', 'invalid_image');
  if (width * height > limits.maxPixels) {
    throw new UserError(`the image is ${width}×${height} = ${width * height} pixels; at most ${limits.maxPixels} are accepted`, 'image_too_large', 413);
  }
  try {
    // Decode every pixel once: a truncated or corrupt file fails here, not inside the encoder.
    await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error' }).resize(8, 8, { fit: 'fill' }).raw().toBuffer();
  } catch {
    throw new UserError('the image is corrupt or truncated', 'invalid_image');
  }
  return { bytes, format, width, height };
}
