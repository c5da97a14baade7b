/**
 * Image preprocessing exactly as a model package's `model.json.image` says and as the training
 * engine does it (trainer/engine/poisonlens_engine/data.py): decode, RGB with alpha dropped,
 * resize the shortest side to `size` with bicubic filtering (the long side becomes
 * int(size * long / short), as torchvision's Resize(size) on a PIL image), centre crop
 * (offsets round((h - size) / 2)), then float32 CHW: x / 255, (x - mean) / std in float32.
 *
 * Plain 8-bit PNGs are decoded by png-decoder.ts; sharp decodes everything else (ICC profiles ignored
 * and EXIF orientation not applied, as PIL's Image.open does). The resize is our own implementation of Pillow's convolution resampler
 * (separable, horizontal pass then vertical, Catmull-Rom cubic a = -0.5 widened by the scale
 * when shrinking, 22-bit fixed-point coefficients, 8-bit intermediate), so pixels match the
 * engine's exactly rather than approximately.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { decodePngFast, type RgbImage } from './png-decoder.js';
import { UserError } from '../core/errors.js';

export interface ImageSpec {
  size: number;
  mean: [number, number, number];
  std: [number, number, number];
  resize: 'bicubic';
  crop: 'center';
}

sharp.cache(false);

/**
 * Decodes image bytes or a file path to 8-bit RGB (alpha dropped, not composited). Plain 8-bit
 * PNGs take a fast path (png-decoder.ts); everything else goes through sharp.
 */
export async function decodeRgb(input: Uint8Array | string): Promise<RgbImage> {
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new UserError(`missing image file ${input}`, 'missing_image');
      throw new UserError(`cannot read image ${input}: ${(err as Error).message}`, 'bad_image');
    }
  } else {
    bytes = input;
  }
  const fast = decodeOptions.pngFastPath ? decodePngFast(bytes) : null;
  if (fast) return fast;
  try {
    const { data, info } = await sharp(bytes, { ignoreIcc: true, failOn: 'error', limitInputPixels: 1 << 28 })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    const what = typeof input === 'string' ? input : `${input.byteLength}-byte image`;
    const msg = (err as Error).message ?? String(err);
    throw new UserError(`cannot decode image ${what}: ${msg.split('\n')[0]}`, 'bad_image');
  }
}

// ---------------------------------------------------------------------------------------------
// Pillow-compatible bicubic resampling

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  ksize: number;
  /** [start, count] per output position. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output position. */
  weights: Int32Array;
}

function coefficients(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(1, scale);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      total += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = total !== 0 ? w[x] / total : w[x];
      weights[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function resampleHorizontal(src: RgbImage, outW: number): RgbImage {
  const { ksize, bounds, weights } = coefficients(src.width, outW);
  const h = src.height;
  const out = new Uint8Array(outW * h * 3);
  const inRow = src.width * 3;
  for (let y = 0; y < h; y++) {
    const rowOff = y * inRow;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2];
      const n = bounds[xx * 2 + 1];
      const k = xx * ksize;
      let s0 = ONE / 2;
      let s1 = ONE / 2;
      let s2 = ONE / 2;
      for (let x = 0; x < n; x++) {
        const wgt = weights[k + x];
        const p = rowOff + (x + xmin) * 3;
        s0 += src.data[p] * wgt;
        s1 += src.data[p + 1] * wgt;
        s2 += src.data[p + 2] * wgt;
      }
      const o = (y * outW + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { data: out, width: outW, height: h };
}

function resampleVertical(src: RgbImage, outH: number): RgbImage {
  const { ksize, bounds, weights } = coefficients(src.height, outH);
  const w = src.width;
  const row = w * 3;
  const out = new Uint8Array(w * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const n = bounds[yy * 2 + 1];
    const k = yy * ksize;
    for (let i = 0; i < row; i++) {
      let s = ONE / 2;
      for (let y = 0; y < n; y++) s += src.data[(y + ymin) * row + i] * weights[k + y];
      out[yy * row + i] = clip8(s);
    }
  }
  return { data: out, width: w, height: outH };
}

/** Pillow's `Image.resize((w, h), Image.BICUBIC)` for an RGB image. */
export function resizeBicubic(img: RgbImage, width: number, height: number): RgbImage {
  if (width === img.width && height === img.height) return img;
  let cur = img;
  if (width !== cur.width) cur = resampleHorizontal(cur, width);
  if (height !== cur.height) cur = resampleVertical(cur, height);
  return cur;
}

/** Resize shortest side to `size` (torchvision Resize(size) semantics) and centre-crop size×size. */
export function resizeAndCrop(img: RgbImage, size: number): RgbImage {
  let { width: w, height: h } = img;
  let cur = img;
  if (Math.min(w, h) !== size) {
    const [nw, nh] = w <= h ? [size, Math.trunc((size * h) / w)] : [Math.trunc((size * w) / h), size];
    cur = resizeBicubic(cur, nw, nh);
    w = nw;
    h = nh;
  }
  if (w === size && h === size) return cur;
  const top = pyRound((h - size) / 2);
  const left = pyRound((w - size) / 2);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const sy = y + top;
    for (let x = 0; x < size; x++) {
      const sx = x + left;
      const o = (y * size + x) * 3;
      // PIL's crop pads outside the image with zeros.
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
      const p = (sy * w + sx) * 3;
      out[o] = cur.data[p];
      out[o + 1] = cur.data[p + 1];
      out[o + 2] = cur.data[p + 2];
    }
  }
  return { data: out, width: size, height: size };
}

/** Python's round() (half to even) for the crop offsets. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Writes (x / 255 - mean) / std in float32 arithmetic, CHW, into `out` at `offset`
 * (torch: uint8 → float, div_(255), (x - mean) / std).
 */
export function normalizeInto(img: RgbImage, spec: ImageSpec, out: Float32Array, offset = 0): void {
  const plane = img.width * img.height;
  const luts = normalizeLuts(spec);
  const data = img.data;
  for (let c = 0; c < 3; c++) {
    const lut = luts[c];
    const base = offset + c * plane;
    for (let i = 0, p = c; i < plane; i++, p += 3) out[base + i] = lut[data[p]];
  }
}

const LUT_CACHE = new Map<string, Float32Array[]>();

/** Per channel, the normalised float32 value of each byte: 256 values, computed once per spec. */
function normalizeLuts(spec: ImageSpec): Float32Array[] {
  const key = `${spec.mean.join(',')}/${spec.std.join(',')}`;
  let luts = LUT_CACHE.get(key);
  if (!luts) {
    const f = Math.fround;
    luts = [0, 1, 2].map((c) => {
      const mean = f(spec.mean[c]);
      const std = f(spec.std[c]);
      const lut = new Float32Array(256);
      for (let v = 0; v < 256; v++) lut[v] = f(f(f(v / 255) - mean) / std);
      return lut;
    });
    if (LUT_CACHE.size > 64) LUT_CACHE.clear();
    LUT_CACHE.set(key, luts);
  }
  return luts;
}

/** Set false to send PNGs through sharp too (for comparisons; the results are identical). */
export const decodeOptions = { pngFastPath: true };

/** One image → float32 [3, S, S]. */
export async function preprocessImage(input: Uint8Array | string, spec: ImageSpec): Promise<Float32Array> {
  const out = new Float32Array(3 * spec.size * spec.size);
  normalizeInto(resizeAndCrop(await decodeRgb(input), spec.size), spec, out, 0);
  return out;
}

/**
 * A batch → float32 [N, 3, S, S] (row-major, the ONNX `pixel_values` layout). Images decode
 * concurrently (sharp works on libuv's thread pool); the resize runs on this thread.
 */
export async function preprocessBatch(inputs: Array<Uint8Array | string>, spec: ImageSpec): Promise<Float32Array> {
  const per = 3 * spec.size * spec.size;
  const out = new Float32Array(inputs.length * per);
  const decoded = await Promise.all(inputs.map((i) => decodeRgb(i)));
  decoded.forEach((img, i) => normalizeInto(resizeAndCrop(img, spec.size), spec, out, i * per));
  return out;
}
