/** NumPy .npy (format 1.0) for float32 matrices: what `poisonlens embed` writes for outside analysis. */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/fsutil.js';

/** The bytes of a .npy file holding `data` as a little-endian float32 C-order array of `shape`. */
export function npyBytes(data: Float32Array, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npy: shape ${shape} holds ${count} values, got ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header + ' '.repeat(total - 10 - header.length - 1) + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = (total - 10) & 0xff;
  out[9] = (total - 10) >> 8;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const le = new DataView(out.buffer, total);
  for (let i = 0; i < data.length; i++) le.setFloat32(i * 4, data[i], true);
  return out;
}

export function writeNpy(path: string, data: Float32Array, shape: number[]): void {
  writeFileAtomic(path, npyBytes(data, shape));
}

/** Reads a float32 .npy written by `writeNpy` (for tests and tools). */
export function readNpy(path: string): { data: Float32Array; shape: number[] } {
  const b = readFileSync(path);
  if (b[0] !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path} is not a .npy file`);
  const hlen = b[8] | (b[9] << 8);
  const header = b.toString('latin1', 10, 10 + hlen);
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True")) throw new Error(`${path}: only little-endian float32 C-order arrays are supported`);
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const start = 10 + hlen;
  const n = (b.byteLength - start) / 4;
  const data = new Float32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset + start, b.byteLength - start);
  for (let i = 0; i < n; i++) data[i] = dv.getFloat32(i * 4, true);
  return { data, shape };
}
