/**
 * hnswlib's saved HNSW graph (`hnsw.bin`, as hnswlib-node writes it) read and searched in
 * JavaScript. hnswlib-node builds the graph; loading it back through hnswlib costs three
 * system calls per element and a second copy of every vector, which on the sandboxed machines
 * this runs on made a 100,000-vector index take seconds to open. Here the file is read once,
 * viewed in place (typed arrays over the same bytes: the vectors, the layer-0 links, the labels)
 * and searched with hnswlib's own algorithm (greedy descent through the upper layers, then the
 * ef-bounded best-first search of layer 0), with inner-product distance −q·v (hnswlib's 1 − q·v,
 * shifted: the same order). The bytes live in WebAssembly memory so that the inner loop's dot
 * products run as f32x4 SIMD (simd.ts), a node's unvisited neighbours scored in one call; where
 * SIMD is unavailable a scalar JavaScript loop takes over (about 3x slower).
 *
 * File layout (hnswlib HierarchicalNSW::saveIndex, little-endian):
 *   header: offsetLevel0 u64, maxElements u64, count u64, sizePerElement u64, labelOffset u64,
 *           offsetData u64, maxLevel i32, entryPoint u32, maxM u64, maxM0 u64, M u64,
 *           mult f64, efConstruction u64                                          (96 bytes)
 *   level 0: count × sizePerElement bytes; per element at offsetLevel0: u32 link count (low
 *           16 bits) + maxM0 u32 links; at offsetData: dim f32; at labelOffset: u64 label
 *   upper layers: per element, u32 byte length, then `level` blocks of (u32 count + maxM u32)
 */
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { UserError } from '../core/errors.js';
import { dotRow } from './dot.js';
import { DOTS_GROUP, simdKernels, simdSupported, type DotsFn } from './simd.js';

const HEADER_BYTES = 96;
/**
 * In WebAssembly memory: the query at 0 (up to 8,192 floats), the batch of neighbour rows to
 * score at BATCH_IDS_AT and their scores at BATCH_OUT_AT (up to BATCH_MAX each), the graph
 * file's bytes from GRAPH_AT.
 */
const BATCH_IDS_AT = 32768;
const BATCH_OUT_AT = 49152;
/** Room for BATCH_MAX rows and a group's padding. */
const BATCH_MAX = 4096 - DOTS_GROUP;
const GRAPH_AT = 65536;
const PAGE = 65536;

/** A graph file's bytes: in WebAssembly memory when SIMD runs here, else in a plain buffer. */
export interface GraphStorage {
  bytes: Uint8Array;
  memory: WebAssembly.Memory | null;
}

/** Storage for `size` graph bytes. */
function allocate(size: number): GraphStorage {
  if (simdSupported() && GRAPH_AT + size <= 65536 * PAGE) {
    const memory = new WebAssembly.Memory({ initial: Math.ceil((GRAPH_AT + size) / PAGE) });
    return { bytes: new Uint8Array(memory.buffer, GRAPH_AT, size), memory };
  }
  return { bytes: new Uint8Array(size), memory: null };
}

export interface GraphHeader {
  count: number;
  sizePerElement: number;
  offsetLevel0: number;
  offsetData: number;
  labelOffset: number;
  maxLevel: number;
  entryPoint: number;
  maxM: number;
  maxM0: number;
  m: number;
  efConstruction: number;
}

function bad(what: string): never {
  throw new UserError(`corrupt index: hnsw.bin ${what}; rebuild it with --force`, 'corrupt_index');
}

/** Binary heap of (distance, id) pairs; `max` picks which end is on top. */
class Heap {
  dist: Float64Array;
  id: Int32Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly max: boolean,
  ) {
    this.dist = new Float64Array(capacity);
    this.id = new Int32Array(capacity);
  }

  private above(a: number, b: number): boolean {
    return this.max ? this.dist[a] > this.dist[b] : this.dist[a] < this.dist[b];
  }

  push(d: number, id: number): void {
    if (this.size === this.dist.length) {
      const nd = new Float64Array(this.size * 2);
      nd.set(this.dist);
      this.dist = nd;
      const ni = new Int32Array(this.size * 2);
      ni.set(this.id);
      this.id = ni;
    }
    let i = this.size++;
    this.dist[i] = d;
    this.id[i] = id;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    this.dist[0] = this.dist[last];
    this.id[0] = this.id[last];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const r = l + 1;
      const c = r < this.size && this.above(r, l) ? r : l;
      if (!this.above(c, i)) break;
      this.swap(i, c);
      i = c;
    }
  }

  private swap(a: number, b: number): void {
    const d = this.dist[a];
    this.dist[a] = this.dist[b];
    this.dist[b] = d;
    const x = this.id[a];
    this.id[a] = this.id[b];
    this.id[b] = x;
  }
}

export class HnswGraph {
  readonly header: GraphHeader;
  readonly dim: number;
  /** The file's bytes as 32-bit words (vectors as floats, links as integers). */
  private readonly f32: Float32Array;
  private readonly u32: Uint32Array;
  /** Word offset of element 0, words per element, word offsets of links and data within it. */
  private readonly base: number;
  private readonly stride: number;
  private readonly dataOff: number;
  /** Per element: word offset of its upper-layer blocks (or -1) and its level. */
  private readonly upperOff: Int32Array;
  private readonly levels: Uint8Array;
  private readonly upperWords: number;
  private visited: Uint16Array;
  private tag = 0;
  /** The SIMD batch scorer over `memory` (null: scalar JavaScript) and the query's place there. */
  private readonly wasmDots: DotsFn | null;
  private readonly query: Float32Array | null;
  /** The batch of rows to score and their scores q·v (views into WebAssembly memory with SIMD). */
  private readonly batchRows: Int32Array;
  private readonly batchScores: Float32Array;
  private readonly dataByte0: number;
  private readonly strideBytes: number;

  /** `bytes` must be 4-byte aligned; with `memory`, it is a view into it at GRAPH_AT. */
  private constructor(readonly bytes: Uint8Array, dim: number, memory: WebAssembly.Memory | null) {
    if (bytes.byteLength < HEADER_BYTES) bad(`has ${bytes.byteLength} bytes, less than its header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const u64 = (o: number) => {
      const v = dv.getBigUint64(o, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`has an impossible header value at byte ${o}`);
      return Number(v);
    };
    const h: GraphHeader = {
      offsetLevel0: u64(0),
      count: u64(16),
      sizePerElement: u64(24),
      labelOffset: u64(32),
      offsetData: u64(40),
      maxLevel: dv.getInt32(48, true),
      entryPoint: dv.getUint32(52, true),
      maxM: u64(56),
      maxM0: u64(64),
      m: u64(72),
      efConstruction: u64(88),
    };
    this.header = h;
    this.dim = dim;
    const linksL0 = 4 + 4 * h.maxM0;
    if (h.offsetLevel0 !== 0 || h.offsetData !== linksL0 || h.labelOffset !== linksL0 + 4 * dim || h.sizePerElement !== h.labelOffset + 8) {
      bad(`does not describe ${dim}-dimensional float vectors (element layout ${h.sizePerElement}/${h.offsetData}/${h.labelOffset})`);
    }
    if (h.count > 0 && (h.entryPoint >= h.count || h.maxLevel < 0 || h.maxLevel > 255)) bad('has an entry point or level outside the graph');
    const level0End = HEADER_BYTES + h.count * h.sizePerElement;
    if (level0End > bytes.byteLength) bad(`is truncated (layer 0 needs ${level0End} bytes, the file has ${bytes.byteLength})`);
    this.f32 = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
    this.u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
    this.base = HEADER_BYTES / 4;
    this.stride = h.sizePerElement / 4;
    this.dataOff = h.offsetData / 4;
    this.upperWords = 1 + h.maxM;
    // Upper layers: a length-prefixed block per element.
    this.upperOff = new Int32Array(h.count).fill(-1);
    this.levels = new Uint8Array(h.count);
    let pos = level0End;
    const blockBytes = 4 * this.upperWords;
    for (let i = 0; i < h.count; i++) {
      if (pos + 4 > bytes.byteLength) bad(`is truncated in its upper layers (element ${i})`);
      const len = dv.getUint32(pos, true);
      pos += 4;
      if (len) {
        if (len % blockBytes !== 0 || pos + len > bytes.byteLength) bad(`has a broken upper-layer block at element ${i}`);
        const level = len / blockBytes;
        if (level > h.maxLevel) bad(`has element ${i} above the top level`);
        this.upperOff[i] = pos / 4;
        this.levels[i] = level;
        pos += len;
      }
    }
    if (pos !== bytes.byteLength) bad(`has ${bytes.byteLength - pos} stray bytes at its end`);
    // Labels are the rows (the builder adds row r as label r): check, as a cheap integrity test.
    const labelWord = h.labelOffset / 4;
    for (let i = 0; i < h.count; i++) {
      const w = this.base + i * this.stride + labelWord;
      if (this.u32[w] !== i || this.u32[w + 1] !== 0) bad(`labels element ${i} as ${this.u32[w]}, not its row`);
    }
    this.visited = new Uint16Array(h.count);
    this.strideBytes = h.sizePerElement;
    this.dataByte0 = bytes.byteOffset + HEADER_BYTES + h.offsetData;
    const kernels = memory && dim % 4 === 0 && dim <= BATCH_IDS_AT / 4 ? simdKernels(memory) : null;
    this.wasmDots = kernels?.dots ?? null;
    this.query = kernels ? new Float32Array(memory!.buffer, 0, dim) : null;
    this.batchRows = kernels ? new Int32Array(memory!.buffer, BATCH_IDS_AT, BATCH_MAX) : new Int32Array(BATCH_MAX);
    this.batchScores = kernels ? new Float32Array(memory!.buffer, BATCH_OUT_AT, BATCH_MAX) : new Float32Array(BATCH_MAX);
  }

  /** A graph from a file's bytes (copied into the search's own storage). */
  static parse(bytes: Uint8Array, dim: number): HnswGraph {
    const { bytes: own, memory } = allocate(bytes.byteLength);
    own.set(bytes);
    return new HnswGraph(own, dim, memory);
  }

  /** Reads a graph file straight into search storage (one read, no intermediate copy). */
  static readStorageSync(path: string): GraphStorage {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const storage = allocate(size);
      for (let off = 0; off < size; ) {
        const n = readSync(fd, storage.bytes, off, size - off, off);
        if (n === 0) bad(`ended after ${off} of ${size} bytes while being read`);
        off += n;
      }
      return storage;
    } finally {
      closeSync(fd);
    }
  }

  /** `readStorageSync` with the reads off the event loop. */
  static async readStorage(path: string): Promise<GraphStorage> {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const storage = allocate(size);
      for (let off = 0; off < size; ) {
        const { bytesRead } = await fh.read(storage.bytes, off, Math.min(size - off, 1 << 26), off);
        if (bytesRead === 0) bad(`ended after ${off} of ${size} bytes while being read`);
        off += bytesRead;
      }
      return storage;
    } finally {
      await fh.close();
    }
  }

  /** Parses storage filled by `readStorage*` (checking its structure). */
  static fromStorage(storage: GraphStorage, dim: number): HnswGraph {
    return new HnswGraph(storage.bytes, dim, storage.memory);
  }

  static readFileSync(path: string, dim: number): HnswGraph {
    return HnswGraph.fromStorage(HnswGraph.readStorageSync(path), dim);
  }

  get count(): number {
    return this.header.count;
  }

  /** The stored vectors as a strided view: row r starts at `vectorOffset(r)` of `vectorData`. */
  get vectorData(): Float32Array {
    return this.f32;
  }

  vectorOffset(row: number): number {
    return this.base + row * this.stride + this.dataOff;
  }

  /** A contiguous copy of the vectors, [count × dim]. */
  vectorsCopy(): Float32Array {
    const out = new Float32Array(this.count * this.dim);
    for (let r = 0; r < this.count; r++) {
      const o = this.vectorOffset(r);
      out.set(this.f32.subarray(o, o + this.dim), r * this.dim);
    }
    return out;
  }

  /** q·v of the first `count` rows of the batch into `batchScores`: one WebAssembly call, or JavaScript. */
  private scoreBatch(q: Float32Array, count: number): void {
    if (this.wasmDots) {
      // Padded to whole groups of the kernel's rows with the last row again: a cached row costs
      // less than scoring the odd ones out one by one, where their cache misses cannot overlap.
      const rows = this.batchRows;
      let padded = count;
      if (count > 1) for (; padded % DOTS_GROUP !== 0; padded++) rows[padded] = rows[count - 1];
      this.wasmDots(0, BATCH_IDS_AT, padded, BATCH_OUT_AT, this.dataByte0, this.strideBytes, this.dim);
      return;
    }
    for (let i = 0; i < count; i++) this.batchScores[i] = this.scalarDot(q, this.batchRows[i]);
  }

  /** q·v of one row: the SIMD kernel through a batch of one, or JavaScript. */
  private dot(q: Float32Array, row: number): number {
    this.batchRows[0] = row;
    this.scoreBatch(q, 1);
    return this.batchScores[0];
  }

  /** q·v in JavaScript (the kernel exact search uses). */
  private scalarDot(q: Float32Array, row: number): number {
    return dotRow(this.f32, this.base + row * this.stride + this.dataOff, q, this.dim);
  }

  private nextTag(): number {
    if (++this.tag === 0xffff) {
      this.visited.fill(0);
      this.tag = 1;
    }
    return this.tag;
  }

  /**
   * The (up to) k nearest rows by inner product with an ef-wide search, best first: rows and
   * their scores q·v as the search computed them (callers wanting scores comparable to an exact
   * search recompute them with the same dot product as that search).
   */
  search(q: Float32Array, k: number, ef: number): { rows: number[]; scores: number[] } {
    const h = this.header;
    if (h.count === 0 || k < 1) return { rows: [], scores: [] };
    const u32 = this.u32;
    const batch = this.batchRows;
    const batchScores = this.batchScores;
    if (this.query) this.query.set(q);
    let cur = h.entryPoint;
    let curDist = -this.dot(q, cur);
    for (let level = h.maxLevel; level > 0; level--) {
      let changed = true;
      while (changed) {
        changed = false;
        const off = this.upperOff[cur];
        if (off < 0 || this.levels[cur] < level) break;
        const block = off + (level - 1) * this.upperWords;
        const n = Math.min(u32[block] & 0xffff, h.maxM, BATCH_MAX);
        for (let i = 0; i < n; i++) batch[i] = u32[block + 1 + i];
        this.scoreBatch(q, n);
        for (let i = 0; i < n; i++) {
          const d = -batchScores[i];
          if (d < curDist) {
            curDist = d;
            cur = batch[i];
            changed = true;
          }
        }
      }
    }
    const width = Math.max(ef, k);
    const tag = this.nextTag();
    const visited = this.visited;
    const top = new Heap(width + 1, true);
    const cand = new Heap(width * 2, false);
    let lowerBound = curDist;
    top.push(curDist, cur);
    cand.push(curDist, cur);
    visited[cur] = tag;
    while (cand.size > 0) {
      const cd = cand.dist[0];
      const c = cand.id[0];
      if (cd > lowerBound) break;
      cand.pop();
      const links = this.base + c * this.stride;
      const n = Math.min(u32[links] & 0xffff, h.maxM0, BATCH_MAX);
      // The unvisited neighbours, scored in one batch (then taken in link order, as hnswlib does).
      let m = 0;
      for (let j = 1; j <= n; j++) {
        const id = u32[links + j];
        if (visited[id] === tag) continue;
        visited[id] = tag;
        batch[m++] = id;
      }
      this.scoreBatch(q, m);
      for (let i = 0; i < m; i++) {
        const d = -batchScores[i];
        const id = batch[i];
        if (top.size < width || lowerBound > d) {
          cand.push(d, id);
          top.push(d, id);
          if (top.size > width) top.pop();
          lowerBound = top.dist[0];
        }
      }
    }
    while (top.size > k) top.pop();
    const rows = new Array<number>(top.size);
    const scores = new Array<number>(top.size);
    for (let i = top.size - 1; i >= 0; i--) {
      rows[i] = top.id[0];
      scores[i] = -top.dist[0];
      top.pop();
    }
    return { rows, scores };
  }
}
