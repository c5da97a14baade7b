import { constants, crc32, deflateSync } from 'node:zlib';

/**
 * A minimal PNG encoder for 8-bit RGB. For 64-128 px images it is ~25× faster than a sharp
 * pipeline (whose per-call overhead dominates at this size) and its output depends only on the
 * pixels and Node's bundled zlib, so it is byte-deterministic. Rows use the Sub filter and
 * zlib's run-length strategy: measured on scenes, 3-4× faster than the default level for ~10%
 * larger files (5.6 KB vs 5.1 KB at 64 px); encoding was the largest cost per image.
 */
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

export function encodePngRgb(rgb: Uint8Array | Uint8ClampedArray, width: number, height: number): Buffer {
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    const i = y * stride;
    raw[o] = 1; // Sub
    for (let x = 0; x < 3; x++) raw[o + 1 + x] = rgb[i + x];
    for (let x = 3; x < stride; x++) raw[o + 1 + x] = (rgb[i + x] - rgb[i + x - 3]) & 255;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { strategy: constants.Z_RLE })), chunk('IEND', Buffer.alloc(0))]);
}
