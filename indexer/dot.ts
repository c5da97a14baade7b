/**
 * The inner-product kernels of JavaScript (the WebAssembly SIMD ones are in ./simd.ts): every
 * score of exact search, evaluation, the HNSW walk's fallback, the alarm, the defences' pair
 * scores and the server's duplicate check, and every L2 norm, comes from here, so two paths that
 * score the same pair agree to the last bit. (encoder-worker.mjs, plain JavaScript, restates the
 * norm in the same order.)
 */

/** a·b of two vectors of one dimension. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot: dimensions ${a.length} and ${b.length} differ`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Row `off` of a packed matrix `v` (d values) with `q`: four partial sums, for speed. */
export function dotRow(v: Float32Array, off: number, q: Float32Array, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  const d4 = d - (d % 4);
  for (; j < d4; j += 4) {
    s0 += v[off + j] * q[j];
    s1 += v[off + j + 1] * q[j + 1];
    s2 += v[off + j + 2] * q[j + 2];
    s3 += v[off + j + 3] * q[j + 3];
  }
  for (; j < d; j++) s0 += v[off + j] * q[j];
  return s0 + s1 + (s2 + s3);
}
