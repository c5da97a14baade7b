/**
 * A fast path for the commonest gallery files: non-interlaced 8-bit PNGs (grey, grey+alpha, RGB,
 * RGBA, palette). Node's zlib inflates and a small unfilter loop reconstructs the rows: for the
 * scenes world's 64-pixel pictures this is several times faster than a round trip through sharp.
 * PNG is lossless, so the pixels are exactly what sharp (and PIL) decode; anything else (other
 * bit depths, interlacing, a bad CRC, odd chunk layouts) returns null and goes to sharp.
 */
import { inflateSync, crc32 } from 'node:zlib';

/** 8-bit RGB pixels, row-major, 3 bytes per pixel: what this decoder and preprocess.ts's produce (declared here, the lower module, so that neither imports the other). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export function isPng(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  for (let i = 0; i < 8; i++) if (b[i] !== SIGNATURE[i]) return false;
  return true;
}

/** Decodes `b` to RGB (alpha dropped) or returns null when this fast path does not handle it. */
export function decodePngFast(b: Uint8Array, maxPixels = 1 << 26): RgbImage | null {
  if (!isPng(b)) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (pos + 12 <= b.length) {
    const len = dv.getUint32(pos);
    if (pos + 12 + len > b.length) return null;
    const type = String.fromCharCode(b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]);
    const data = b.subarray(pos + 8, pos + 8 + len);
    if (crc32(b.subarray(pos + 4, pos + 8 + len)) !== dv.getUint32(pos + 8 + len)) return null;
    if (type === 'IHDR') {
      if (len !== 13) return null;
      width = dv.getUint32(pos + 8);
      height = dv.getUint32(pos + 12);
      const depth = data[8];
      colorType = data[9];
      const interlace = data[12];
      if (depth !== 8 || interlace !== 0 || data[10] !== 0 || data[11] !== 0 || !(colorType in CHANNELS)) return null;
      if (width === 0 || height === 0 || width * height > maxPixels) return null;
    } else if (type === 'PLTE') {
      palette = data;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    } else if (type === 'iCCP' || type === 'sRGB' || type === 'cHRM' || type === 'gAMA') {
      // Colour-management hints: ignored by PIL (and by sharp with ignoreIcc for iCCP). Fine.
    } else if ((b[pos + 4] & 0x20) === 0) {
      return null; // an unknown critical chunk
    }
    pos += 12 + len;
  }
  if (!sawEnd || colorType < 0 || idat.length === 0) return null;
  if (colorType === 3 && (!palette || palette.length % 3 !== 0)) return null;
  const ch = CHANNELS[colorType];
  const stride = width * ch;
  let raw: Buffer;
  try {
    raw = inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat));
  } catch {
    return null;
  }
  if (raw.length < (stride + 1) * height) return null;
  // Unfilter in place into `cur` rows.
  const img = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const out = y * stride;
    const up = out - stride;
    switch (f) {
      case 0:
        for (let i = 0; i < stride; i++) img[out + i] = raw[src + i];
        break;
      case 1:
        for (let i = 0; i < stride; i++) img[out + i] = (raw[src + i] + (i >= ch ? img[out + i - ch] : 0)) & 0xff;
        break;
      case 2:
        for (let i = 0; i < stride; i++) img[out + i] = (raw[src + i] + (y > 0 ? img[up + i] : 0)) & 0xff;
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const a = i >= ch ? img[out + i - ch] : 0;
          const u = y > 0 ? img[up + i] : 0;
          img[out + i] = (raw[src + i] + ((a + u) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= ch ? img[out + i - ch] : 0;
          const u = y > 0 ? img[up + i] : 0;
          const c = i >= ch && y > 0 ? img[up + i - ch] : 0;
          const p = a + u - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - u);
          const pc = Math.abs(p - c);
          img[out + i] = (raw[src + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? u : c)) & 0xff;
        }
        break;
      default:
        return null;
    }
  }
  const n = width * height;
  if (colorType === 2) return { data: img, width, height };
  const rgb = new Uint8Array(n * 3);
  if (colorType === 6) {
    for (let i = 0; i < n; i++) {
      rgb[i * 3] = img[i * 4];
      rgb[i * 3 + 1] = img[i * 4 + 1];
      rgb[i * 3 + 2] = img[i * 4 + 2];
    }
  } else if (colorType === 0 || colorType === 4) {
    for (let i = 0; i < n; i++) {
      const g = img[i * ch];
      rgb[i * 3] = g;
      rgb[i * 3 + 1] = g;
      rgb[i * 3 + 2] = g;
    }
  } else {
    const entries = palette!.length / 3;
    for (let i = 0; i < n; i++) {
      const k = img[i];
      if (k >= entries) return null;
      rgb[i * 3] = palette![k * 3];
      rgb[i * 3 + 1] = palette![k * 3 + 1];
      rgb[i * 3 + 2] = palette![k * 3 + 2];
    }
  }
  return { data: rgb, width, height };
}
