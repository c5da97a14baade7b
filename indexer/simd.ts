/**
 * WebAssembly SIMD dot products (f32x4) for the HNSW graph search's inner loop. The module is a
 * couple of hundred bytes, written out below instruction by instruction; it imports its memory,
 * so the vectors it reads are the graph file's bytes placed in that memory once, not copied per
 * call. Two functions:
 *
 *   dot(a, b, n) -> f32
 *     the inner product of the n floats at byte offsets a and b: four independent f32x4
 *     accumulators over 16 floats a step (one accumulator would wait on its own adds: the
 *     first version did, and was twice as slow at dimension 512), then 4 floats a step;
 *   dots(q, ids, count, out, base, stride, n)
 *     for i < count: out[i] = dot(q, base + ids[i] * stride, n), with ids and out i32/f32 arrays
 *     at byte offsets `ids` and `out`: one call from JavaScript scores all of a node's
 *     unvisited neighbours (JavaScript-to-WebAssembly calls cost more than a short dot).
 *
 * `n` must be a multiple of 4 and every offset 4-byte aligned. The sums are float32 (their order
 * differs from the scalar code), which is fine for ranking candidates; final scores are
 * recomputed in double precision by the caller. `RowScorer` (at the end) puts a fixed set of
 * rows, such as a split's captions, in such a memory and scores them all against one query.
 */

const SIMD = 0xfd;
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const i32const = (v: number) => [0x41, ...sleb(v)];
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_AND = 0x71;
const I32_SHL = 0x74;
const I32_GE_U = 0x4f;
const F32_ADD = 0x92;
/** v128.load at byte offset `off` past the address on the stack (alignment hint 4 bytes). */
const load = (off: number) => [SIMD, 0x00, 0x02, ...uleb(off)];
const F32X4_ADD = [SIMD, 0xe4, 0x01];
const F32X4_MUL = [SIMD, 0xe6, 0x01];
const lane = (l: number) => [SIMD, 0x1f, l];
/** `block loop (br_if 1 when local a ≥ local end) …body… br 0 end end`: while a < end. */
const whileBelow = (a: number, end: number, body: number[]) => [0x02, 0x40, 0x03, 0x40, ...get(a), ...get(end), I32_GE_U, 0x0d, 0x01, ...body, 0x0c, 0x00, 0x0b, 0x0b];
/** The sum of the four float lanes of v128 local `v`. */
const laneSum = (v: number) => [...get(v), ...lane(0), ...get(v), ...lane(1), F32_ADD, ...get(v), ...lane(2), F32_ADD, ...get(v), ...lane(3), F32_ADD];
const addTo = (local: number, value: number) => [...get(local), ...i32const(value), I32_ADD, ...set(local)];

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

// dot: params a=0, b=1, n=2; locals acc0..acc3 = 3..6 (v128, zero-initialised), end = 7, end16 = 8.
const accumulate = (acc: number, off: number) => [...get(acc), ...get(0), ...load(off), ...get(1), ...load(off), ...F32X4_MUL, ...F32X4_ADD, ...set(acc)];
// prettier-ignore
const DOT_BODY = [
  0x02, 0x04, V128, 0x02, I32, // locals: 4 × v128, 2 × i32
  ...get(0), ...get(2), ...i32const(2), I32_SHL, I32_ADD, ...set(7), // end = a + 4n
  ...get(0), ...get(2), ...i32const(-16), I32_AND, ...i32const(2), I32_SHL, I32_ADD, ...set(8), // end16 = a + 4(n & ~15)
  ...whileBelow(0, 8, [...accumulate(3, 0), ...accumulate(4, 16), ...accumulate(5, 32), ...accumulate(6, 48), ...addTo(0, 64), ...addTo(1, 64)]),
  ...whileBelow(0, 7, [...accumulate(3, 0), ...addTo(0, 16), ...addTo(1, 16)]),
  ...get(3), ...get(4), ...F32X4_ADD, ...get(5), ...get(6), ...F32X4_ADD, ...F32X4_ADD, ...set(3), // acc0 = (acc0 + acc1) + (acc2 + acc3)
  ...laneSum(3),
  0x0b,
];

// dots: params q=0, ids=1, count=2, out=3, base=4, stride=5, n=6. Rows go ROWS at a time:
// their memory reads are independent, so the CPU waits on several cache misses at once instead
// of one after another (a random row is a miss: this is what makes the search memory-bound),
// and each load of the query serves every row of the group.
const ROWS = 4;
/** How many rows `dots` scores at once (a count that is not a multiple is finished one by one). */
export const DOTS_GROUP = ROWS;
const END = 7; // ids + 4 count
const END_GROUPS = 8; // ids + 4 (count rounded down to a multiple of ROWS)
const BYTES = 9; // 4n
const J = 10; // byte offset within the rows
const ROW = 11; // ROW + r: row r's address (i32 locals 11 … 11 + ROWS - 1)
const ACC = ROW + ROWS; // ACC + r: row r's accumulator (v128)
const QV = ACC + ROWS; // the query's 4 floats at J (v128)
const rowAt = (r: number) => [...get(1), 0x28, 0x02, r * 4, ...get(5), I32_MUL, ...get(4), I32_ADD, ...set(ROW + r)]; // base + ids[r] * stride
const ZERO = [SIMD, 0x0c, ...new Array<number>(16).fill(0)];
const accumulateRow = (r: number) => [...get(ACC + r), ...get(QV), ...get(ROW + r), ...get(J), I32_ADD, ...load(0), ...F32X4_MUL, ...F32X4_ADD, ...set(ACC + r)];
const store = (off: number, value: number[]) => [...get(3), ...value, 0x38, 0x02, off];
const rows = (f: (r: number) => number[]) => Array.from({ length: ROWS }, (_, r) => f(r)).flat();
// prettier-ignore
const DOTS_BODY = [
  0x02, 4 + ROWS, I32, ROWS + 1, V128, // locals: i32 END … ROW + ROWS - 1, v128 ACC … QV
  ...get(1), ...get(2), ...i32const(2), I32_SHL, I32_ADD, ...set(END),
  ...get(1), ...get(2), ...i32const(-ROWS), I32_AND, ...i32const(2), I32_SHL, I32_ADD, ...set(END_GROUPS),
  ...get(6), ...i32const(2), I32_SHL, ...set(BYTES),
  ...whileBelow(1, END_GROUPS, [
    ...rows(rowAt),
    ...rows((r) => [...ZERO, ...set(ACC + r)]),
    ...i32const(0), ...set(J),
    ...whileBelow(J, BYTES, [...get(0), ...get(J), I32_ADD, ...load(0), ...set(QV), ...rows(accumulateRow), ...addTo(J, 16)]),
    ...rows((r) => store(4 * r, laneSum(ACC + r))),
    ...addTo(1, 4 * ROWS), ...addTo(3, 4 * ROWS),
  ]),
  ...whileBelow(1, END, [ // the rest one at a time: out[i] = dot(q, base + ids[i] * stride, n)
    ...store(0, [...get(0), ...get(4), ...get(1), 0x28, 0x02, 0x00, ...get(5), I32_MUL, I32_ADD, ...get(6), 0x10, 0x00]),
    ...addTo(1, 4), ...addTo(3, 4),
  ]),
  0x0b,
];

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

const str = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
const body = (b: number[]) => [...uleb(b.length), ...b];

export const DOT_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 = (i32 i32 i32) -> f32, 1 = (i32 × 7) -> ()
  ...section(1, [0x02, 0x60, 0x03, I32, I32, I32, 0x01, F32, 0x60, 0x07, I32, I32, I32, I32, I32, I32, I32, 0x00]),
  ...section(2, [0x01, ...str('env'), ...str('mem'), 0x02, 0x00, 0x01]), // import memory env.mem (min 1 page)
  ...section(3, [0x02, 0x00, 0x01]), // two functions, of types 0 and 1
  ...section(7, [0x02, ...str('dot'), 0x00, 0x00, ...str('dots'), 0x00, 0x01]),
  ...section(10, [0x02, ...body(DOT_BODY), ...body(DOTS_BODY)]),
]);

export type DotFn = (a: number, b: number, n: number) => number;
export type DotsFn = (q: number, ids: number, count: number, out: number, base: number, stride: number, n: number) => void;
export interface SimdKernels {
  dot: DotFn;
  dots: DotsFn;
}

let supported: boolean | null = null;

/** Set `enabled` false to use the scalar JavaScript path (tests compare the two). */
export const simdOptions = { enabled: true };

/** Whether this runtime runs WebAssembly SIMD (Node 16.4+ does) and it is enabled. */
export function simdSupported(): boolean {
  supported ??= typeof WebAssembly === 'object' && WebAssembly.validate(DOT_MODULE);
  return supported && simdOptions.enabled;
}

/** The kernels over `memory`, or null where WebAssembly SIMD is unavailable. */
export function simdKernels(memory: WebAssembly.Memory): SimdKernels | null {
  if (!simdSupported()) return null;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(DOT_MODULE), { env: { mem: memory } });
  return { dot: instance.exports.dot as DotFn, dots: instance.exports.dots as DotsFn };
}

/** The single dot product over `memory`, or null where WebAssembly SIMD is unavailable. */
export function simdDot(memory: WebAssembly.Memory): DotFn | null {
  return simdKernels(memory)?.dot ?? null;
}

const SCORER_Q_AT = 0;
const SCORER_IDS_AT = 32768; // after a query of up to 8,192 floats

/**
 * A fixed set of rows (for example a split's caption embeddings) in WebAssembly memory, scored
 * against one query at a time with `dots`: the scores of every row, or of a chosen few. The
 * row lists handed to the kernel are padded to whole groups of `DOTS_GROUP`, so every row goes
 * through the same instructions and equal rows get bit-equal scores wherever they sit.
 */
export class RowScorer {
  private readonly dots: DotsFn;
  private readonly query: Float32Array;
  private readonly ids: Int32Array;
  private readonly out: Float32Array;
  private readonly rowsAt: number;
  private readonly outAt: number;
  /** Scores of the chosen rows of `scoreSome`. */
  private readonly pickIds: Int32Array;
  private readonly pickOut: Float32Array;
  private readonly pickIdsAt: number;
  private readonly pickOutAt: number;
  private readonly n: number;

  private constructor(rows: readonly ArrayLike<number>[], readonly dim: number, maxPick: number) {
    const n = (this.n = rows.length);
    const padded = Math.ceil(Math.max(n, 1) / DOTS_GROUP) * DOTS_GROUP;
    const pick = Math.ceil(Math.max(maxPick, 1) / DOTS_GROUP) * DOTS_GROUP;
    this.outAt = SCORER_IDS_AT + padded * 4;
    this.pickIdsAt = this.outAt + padded * 4;
    this.pickOutAt = this.pickIdsAt + pick * 4;
    this.rowsAt = this.pickOutAt + pick * 4;
    const memory = new WebAssembly.Memory({ initial: Math.ceil((this.rowsAt + n * dim * 4) / 65536) });
    this.dots = simdKernels(memory)!.dots;
    const buf = memory.buffer;
    this.query = new Float32Array(buf, SCORER_Q_AT, dim);
    this.ids = new Int32Array(buf, SCORER_IDS_AT, padded);
    for (let i = 0; i < padded; i++) this.ids[i] = Math.min(i, n - 1);
    this.out = new Float32Array(buf, this.outAt, padded);
    this.pickIds = new Int32Array(buf, this.pickIdsAt, pick);
    this.pickOut = new Float32Array(buf, this.pickOutAt, pick);
    const matrix = new Float32Array(buf, this.rowsAt, n * dim);
    rows.forEach((r, i) => matrix.set(r, i * dim));
  }

  /**
   * Null where SIMD is off, the dimension does not suit the kernel (a multiple of 4, ≤ 8,192)
   * or the rows would not fit in WebAssembly's 4 GiB: callers then score in JavaScript.
   */
  static create(rows: readonly ArrayLike<number>[], dim: number, maxPick = 64): RowScorer | null {
    if (!simdSupported() || rows.length === 0 || dim % 4 !== 0 || dim > SCORER_IDS_AT / 4) return null;
    if (SCORER_IDS_AT + (rows.length + maxPick + 8) * 8 + rows.length * dim * 4 > 65535 * 65536) return null;
    return new RowScorer(rows, dim, maxPick);
  }

  /** q·row for every row (a view, valid until the next call). */
  scoreAll(q: ArrayLike<number>): Float32Array {
    this.query.set(q);
    this.dots(SCORER_Q_AT, SCORER_IDS_AT, this.ids.length, this.outAt, this.rowsAt, this.dim * 4, this.dim);
    return this.out.subarray(0, this.n);
  }

  /** q·row for rows start … start + count − 1 (a view), bit-equal to their `scoreAll` scores. */
  scoreRange(q: ArrayLike<number>, start: number, count: number): Float32Array {
    if (start % DOTS_GROUP !== 0 || count < 0 || start + count > this.n) throw new Error(`RowScorer.scoreRange: rows ${start}…${start + count - 1} of ${this.n} (the start a multiple of ${DOTS_GROUP})`);
    this.query.set(q);
    // Padded within the id list, whose tail repeats the last row: every row takes the group path.
    const padded = Math.min(Math.ceil(count / DOTS_GROUP) * DOTS_GROUP, this.ids.length - start);
    this.dots(SCORER_Q_AT, SCORER_IDS_AT + start * 4, padded, this.outAt + start * 4, this.rowsAt, this.dim * 4, this.dim);
    return this.out.subarray(start, start + count);
  }

  /** q·row for the given rows (at most `maxPick`), bit-equal to their `scoreAll` scores. */
  scoreSome(q: ArrayLike<number>, rows: readonly number[]): Float32Array {
    if (rows.length > this.pickIds.length) throw new Error(`RowScorer.scoreSome: ${rows.length} rows, at most ${this.pickIds.length}`);
    this.query.set(q);
    rows.forEach((r, i) => (this.pickIds[i] = r));
    const padded = Math.ceil(rows.length / DOTS_GROUP) * DOTS_GROUP;
    for (let i = rows.length; i < padded; i++) this.pickIds[i] = rows[rows.length - 1];
    this.dots(SCORER_Q_AT, this.pickIdsAt, padded, this.pickOutAt, this.rowsAt, this.dim * 4, this.dim);
    return this.pickOut.subarray(0, rows.length);
  }
}
