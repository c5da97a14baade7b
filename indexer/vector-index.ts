/**
 * Vector indexes over L2-normalised embeddings (ARCHITECTURE.md §2, "Index"):
 *
 * - `ExactSearch`: brute force over a row-major Float32Array, for evaluation and recall checks.
 * - `HnswSearch`: an HNSW graph built by hnswlib-node (inner-product space = cosine on unit
 *   vectors), saved in hnswlib's format and searched by hnsw-graph.ts straight from the file's
 *   bytes (fast to open: one read, no second copy of the vectors).
 * - The folder format: `vectors.f32` (N×D float32 little-endian), `ids.json`, `hnsw.bin` and
 *   `index.json` (provenance, parameters, sizes and checksums of the other three), written
 *   atomically, verified when loaded.
 *
 * Rows are in ascending id order (the builder sorts them), and both searches order equal scores
 * by row, so ties break by image id as ARCHITECTURE.md §5 defines.
 */
import { dotRow } from './dot.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import hnswlib from 'hnswlib-node';
import { UserError } from '../core/errors.js';
import { buildDirAtomic, writeJsonAtomic } from '../core/fsutil.js';
import type { Neighbour, VectorSearch } from './types.js';
import { HnswGraph, type GraphStorage } from './hnsw-graph.js';

const { HierarchicalNSW } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;

export const INDEX_FORMAT = 'poisonlens-index/1';
export const VECTORS_FILE = 'vectors.f32';
export const IDS_FILE = 'ids.json';
export const HNSW_FILE = 'hnsw.bin';
export const CARD_FILE = 'index.json';

/** HNSW parameters. Defaults chosen by measurement: see bench/index-bench.ts and README. */
export interface HnswParams {
  /** Graph degree (links per node per layer; layer 0 has 2M). */
  m: number;
  /** Candidate list size while building. */
  efConstruction: number;
  /** Candidate list size while searching (raised to k when k is larger). */
  efSearch: number;
  /** hnswlib's level-assignment seed: the same vectors and seed give the same graph. */
  randomSeed: number;
}

export const DEFAULT_HNSW: HnswParams = { m: 16, efConstruction: 200, efSearch: 64, randomSeed: 100 };

// ---------------------------------------------------------------------------------------------
// Top-k selection

/** Keeps the k best (score desc, row asc) of a stream of (score, row) in a binary min-heap. */
class TopK {
  private readonly scores: Float64Array;
  private readonly rows: Int32Array;
  size = 0;

  constructor(readonly k: number) {
    this.scores = new Float64Array(k);
    this.rows = new Int32Array(k);
  }

  /** True if (s, r) ranks below (s2, r2). */
  private static worse(s: number, r: number, s2: number, r2: number): boolean {
    return s < s2 || (s === s2 && r > r2);
  }

  /** The score a candidate must beat (when full). */
  get threshold(): number {
    return this.size < this.k ? -Infinity : this.scores[0];
  }

  push(score: number, row: number): void {
    const { scores, rows } = this;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!TopK.worse(score, row, scores[p], rows[p])) break;
        scores[i] = scores[p];
        rows[i] = rows[p];
        i = p;
      }
      scores[i] = score;
      rows[i] = row;
      return;
    }
    if (!TopK.worse(scores[0], rows[0], score, row)) return;
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && TopK.worse(scores[r], rows[r], scores[l], rows[l]) ? r : l;
      if (!TopK.worse(scores[c], rows[c], score, row)) break;
      scores[i] = scores[c];
      rows[i] = rows[c];
      i = c;
    }
    scores[i] = score;
    rows[i] = row;
  }

  /** Best first. */
  sorted(): Array<{ score: number; row: number }> {
    const out: Array<{ score: number; row: number }> = [];
    for (let i = 0; i < this.size; i++) out.push({ score: this.scores[i], row: this.rows[i] });
    return out.sort((a, b) => b.score - a.score || a.row - b.row);
  }
}

function checkQuery(query: Float32Array | number[], dim: number): void {
  if (query.length !== dim) throw new UserError(`query vector has ${query.length} dimensions, the index has ${dim}`, 'bad_query');
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new UserError(`k must be a positive integer, got ${k}`, 'bad_k');
}

// ---------------------------------------------------------------------------------------------
// Exact search

/** Where row r's vector starts in a Float32Array: `start + r * stride` (contiguous: 0, dim). */
export interface RowLayout {
  start: number;
  stride: number;
}

/** Brute-force inner-product search over normalised vectors (exact cosine). */
export class ExactSearch implements VectorSearch {
  readonly kind = 'exact' as const;
  readonly size: number;
  private readonly start: number;
  private readonly stride: number;

  /** `data`: the vectors, contiguous [n × dim] unless `layout` says otherwise. */
  constructor(
    readonly data: Float32Array,
    readonly ids: string[],
    readonly dim: number,
    layout?: RowLayout,
  ) {
    this.size = ids.length;
    this.start = layout?.start ?? 0;
    this.stride = layout?.stride ?? dim;
    if (this.start + (this.size - 1) * this.stride + dim > data.length && this.size > 0) {
      throw new Error(`ExactSearch: ${data.length} values cannot hold ${ids.length} rows of dim ${dim}`);
    }
  }

  /** Row `row`'s vector (a view, not a copy). */
  vector(row: number): Float32Array {
    const o = this.start + row * this.stride;
    return this.data.subarray(o, o + this.dim);
  }

  /** Cosine of `query` with every row, in row order (double sums of float32 products). */
  scores(query: Float32Array | number[], out = new Float64Array(this.size)): Float64Array {
    checkQuery(query, this.dim);
    const q = query instanceof Float32Array ? query : Float32Array.from(query);
    for (let r = 0, o = this.start; r < this.size; r++, o += this.stride) out[r] = dotRow(this.data, o, q, this.dim);
    return out;
  }

  search(query: Float32Array | number[], k: number): Neighbour[] {
    checkK(k);
    const kk = Math.min(k, this.size);
    if (kk === 0) return [];
    const scores = this.scores(query);
    const top = new TopK(kk);
    for (let r = 0; r < scores.length; r++) {
      const s = scores[r];
      if (s >= top.threshold) top.push(s, r);
    }
    return top.sorted().map(({ score, row }) => ({ row, id: this.ids[row], score }));
  }
}

// ---------------------------------------------------------------------------------------------
// HNSW

/** HNSW search over a graph built by hnswlib-node; scores are exact inner products. */
export class HnswSearch implements VectorSearch {
  readonly kind = 'hnsw' as const;
  readonly size: number;
  readonly dim: number;
  private ef: number;

  private constructor(
    readonly graph: HnswGraph,
    readonly ids: string[],
    readonly params: HnswParams,
  ) {
    this.size = ids.length;
    this.dim = graph.dim;
    this.ef = params.efSearch;
    if (graph.count !== ids.length) {
      throw new UserError(`corrupt index: hnsw.bin holds ${graph.count} vectors, ids.json ${ids.length}; rebuild it with --force`, 'corrupt_index');
    }
  }

  /** Builds the graph with hnswlib-node (single thread, deterministic for a given seed). */
  static build(
    vectors: Float32Array,
    ids: string[],
    dim: number,
    params: Partial<HnswParams> = {},
    onProgress?: (done: number, total: number) => void,
  ): HnswSearch {
    const p = { ...DEFAULT_HNSW, ...params };
    checkParams(p);
    const n = ids.length;
    if (vectors.length !== n * dim) throw new Error(`HnswSearch.build: ${vectors.length} values for ${n} ids of dim ${dim}`);
    const index = new HierarchicalNSW('ip', dim);
    index.initIndex({ maxElements: Math.max(1, n), m: p.m, efConstruction: p.efConstruction, randomSeed: p.randomSeed });
    const point = new Array<number>(dim);
    for (let r = 0; r < n; r++) {
      const off = r * dim;
      for (let j = 0; j < dim; j++) point[j] = vectors[off + j];
      index.addPoint(point, r);
      if (onProgress && ((r + 1) % 1000 === 0 || r + 1 === n)) onProgress(r + 1, n);
    }
    // hnswlib-node writes only to files: take the bytes through a private temp folder.
    const tmp = mkdtempSync(join(tmpdir(), 'pl-hnsw-'));
    try {
      index.writeIndexSync(join(tmp, HNSW_FILE));
      return new HnswSearch(HnswGraph.readFileSync(join(tmp, HNSW_FILE), dim), ids, p);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** A graph file's bytes with its ids. */
  static fromBytes(bytes: Uint8Array, ids: string[], dim: number, params: HnswParams): HnswSearch {
    return new HnswSearch(HnswGraph.parse(bytes, dim), ids, params);
  }

  static fromGraph(graph: HnswGraph, ids: string[], params: HnswParams): HnswSearch {
    return new HnswSearch(graph, ids, params);
  }

  save(path: string): void {
    writeFileSync(path, this.graph.bytes);
  }

  /** Exact search over the same stored vectors (no copy). */
  exact(): ExactSearch {
    const g = this.graph;
    return new ExactSearch(g.vectorData, this.ids, this.dim, { start: g.vectorOffset(0), stride: this.size > 1 ? g.vectorOffset(1) - g.vectorOffset(0) : this.dim });
  }

  get efSearch(): number {
    return this.ef;
  }

  set efSearch(ef: number) {
    if (!Number.isInteger(ef) || ef < 1) throw new UserError(`ef must be a positive integer, got ${ef}`, 'bad_ef');
    this.ef = ef;
  }

  search(query: Float32Array | number[], k: number): Neighbour[] {
    checkK(k);
    checkQuery(query, this.dim);
    const kk = Math.min(k, this.size);
    if (kk === 0) return [];
    const q = query instanceof Float32Array ? query : Float32Array.from(query);
    const { rows } = this.graph.search(q, kk, Math.max(this.ef, kk));
    // Scores by the exact search's own sum, so that both searches agree to the last bit.
    const g = this.graph;
    const out: Neighbour[] = rows.map((row) => ({ row, id: this.ids[row], score: dotRow(g.vectorData, g.vectorOffset(row), q, this.dim) }));
    return out.sort((a, b) => b.score - a.score || a.row - b.row);
  }
}

function checkParams(p: HnswParams): void {
  for (const [name, v, min] of [['m', p.m, 2], ['efConstruction', p.efConstruction, 1], ['efSearch', p.efSearch, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new UserError(`HNSW ${name} must be an integer ≥ ${min}, got ${v}`, 'bad_hnsw_params');
  }
  if (p.m > 512) throw new UserError(`HNSW m must be ≤ 512, got ${p.m}`, 'bad_hnsw_params');
}

// ---------------------------------------------------------------------------------------------
// Folder format

export interface FileSum {
  bytes: number;
  crc32: number;
  sha256: string;
}

/** index.json */
export interface IndexCard {
  format: typeof INDEX_FORMAT;
  model: {
    id: string;
    createdAt: string;
    /** sha256 of image.onnx and the preprocessing settings: see package.ts `imageFingerprint`. */
    imageFingerprint: string;
  };
  dataset: { name: string; manifestSha256: string; split: string };
  count: number;
  dim: number;
  hnsw: HnswParams & { space: 'ip' };
  build: { embedSeconds: number; hnswSeconds: number; totalSeconds: number; imagesPerSecond: number; [k: string]: unknown };
  files: Record<typeof VECTORS_FILE | typeof IDS_FILE | typeof HNSW_FILE, FileSum>;
  createdAt: string;
}

/** An opened index: its card, ids, HNSW search and exact search over the same vectors. */
export class LoadedIndex {
  readonly exact: ExactSearch;
  /** Row of each id. */
  readonly rowOf: Map<string, number>;
  private contiguous: Float32Array | null;

  constructor(
    readonly dir: string,
    readonly card: IndexCard,
    readonly ids: string[],
    readonly hnsw: HnswSearch,
    vectors?: Float32Array,
  ) {
    this.exact = hnsw.exact();
    this.rowOf = new Map();
    for (let i = 0; i < ids.length; i++) this.rowOf.set(ids[i], i);
    this.contiguous = vectors ?? null;
  }

  /** All vectors as one contiguous [count × dim] array (made on first use). */
  get vectors(): Float32Array {
    this.contiguous ??= this.hnsw.graph.vectorsCopy();
    return this.contiguous;
  }

  /** Row `row`'s vector (a view into the index; do not modify). */
  vector(row: number): Float32Array {
    return this.exact.vector(row);
  }
}

function sumOf(data: Uint8Array): FileSum {
  return { bytes: data.byteLength, crc32: crc32(data), sha256: createHash('sha256').update(data).digest('hex') };
}

function f32Bytes(v: Float32Array): Uint8Array {
  // Little-endian on every platform Node supports in practice; check rather than assume.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('big-endian hosts are not supported for vectors.f32');
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export interface WriteIndexInput {
  vectors: Float32Array;
  ids: string[];
  dim: number;
  hnsw: HnswSearch;
  card: Omit<IndexCard, 'format' | 'count' | 'dim' | 'hnsw' | 'files' | 'createdAt'>;
}

/** Writes the index folder atomically (temp folder beside it, then rename). */
export async function writeIndexDir(dir: string, input: WriteIndexInput): Promise<IndexCard> {
  const { vectors, ids, dim, hnsw } = input;
  if (vectors.length !== ids.length * dim) throw new Error(`writeIndexDir: ${vectors.length} values for ${ids.length} ids of dim ${dim}`);
  return buildDirAtomic(dir, (tmp) => {
    const vbytes = f32Bytes(vectors);
    writeFileSync(join(tmp, VECTORS_FILE), vbytes);
    const idsText = JSON.stringify(ids);
    writeFileSync(join(tmp, IDS_FILE), idsText);
    hnsw.save(join(tmp, HNSW_FILE));
    const card: IndexCard = {
      format: INDEX_FORMAT,
      ...input.card,
      count: ids.length,
      dim,
      hnsw: { space: 'ip', ...hnsw.params },
      files: {
        [VECTORS_FILE]: sumOf(vbytes),
        [IDS_FILE]: sumOf(Buffer.from(idsText)),
        [HNSW_FILE]: sumOf(readFileSync(join(tmp, HNSW_FILE))),
      },
      createdAt: new Date().toISOString(),
    };
    writeJsonAtomic(join(tmp, CARD_FILE), card);
    return card;
  });
}

/** index.json of the folder, or null when there is none (or it is unreadable). */
export function readIndexCard(dir: string): IndexCard | null {
  const p = join(dir, CARD_FILE);
  if (!existsSync(p)) return null;
  try {
    const card = JSON.parse(readFileSync(p, 'utf8')) as IndexCard;
    return card && card.format === INDEX_FORMAT ? card : null;
  } catch {
    return null;
  }
}

export type VerifyMode = 'size' | 'crc32' | 'sha256';

function corrupt(dir: string, what: string): never {
  throw new UserError(`corrupt index at ${dir}: ${what}; rebuild it with \`poisonlens index … --force\``, 'corrupt_index');
}

function verifyFile(dir: string, name: string, data: Uint8Array, want: FileSum, mode: VerifyMode): void {
  if (data.byteLength !== want.bytes) corrupt(dir, `${name} has ${data.byteLength} bytes, index.json says ${want.bytes} (truncated or replaced)`);
  if (mode === 'crc32' && crc32(data) !== want.crc32) corrupt(dir, `${name} fails its CRC-32 check`);
  if (mode === 'sha256' && createHash('sha256').update(data).digest('hex') !== want.sha256) corrupt(dir, `${name} fails its SHA-256 check`);
}

/** index.json, parsed and checked against the files' sizes (cheap: no file contents read). */
function readCheckedCard(dir: string): IndexCard {
  const cardPath = join(dir, CARD_FILE);
  if (!existsSync(cardPath)) throw new UserError(`no index at ${dir} (index.json missing)`, 'index_not_found', 404);
  let card: IndexCard;
  try {
    card = JSON.parse(readFileSync(cardPath, 'utf8')) as IndexCard;
  } catch (err) {
    corrupt(dir, `index.json is not valid JSON (${(err as Error).message})`);
  }
  if (card.format !== INDEX_FORMAT) corrupt(dir, `index.json has format ${JSON.stringify(card.format)}, expected ${INDEX_FORMAT}`);
  if (!card.files || !Number.isInteger(card.count) || !Number.isInteger(card.dim) || card.dim < 1) corrupt(dir, 'index.json lacks count, dim or files');
  for (const name of [VECTORS_FILE, IDS_FILE, HNSW_FILE] as const) {
    const p = join(dir, name);
    if (!existsSync(p)) corrupt(dir, `${name} is missing`);
    if (!card.files[name]) corrupt(dir, `index.json has no entry for ${name}`);
    if (statSync(p).size !== card.files[name].bytes) corrupt(dir, `${name} has ${statSync(p).size} bytes, index.json says ${card.files[name].bytes} (truncated or replaced)`);
  }
  if (card.files[VECTORS_FILE].bytes !== card.count * card.dim * 4) corrupt(dir, `${VECTORS_FILE} has ${card.files[VECTORS_FILE].bytes} bytes, expected ${card.count} × ${card.dim} × 4`);
  return card;
}

function paramsOf(card: IndexCard): HnswParams {
  return { m: card.hnsw.m, efConstruction: card.hnsw.efConstruction, efSearch: card.hnsw.efSearch, randomSeed: card.hnsw.randomSeed };
}

function parseIds(dir: string, card: IndexCard, idsBuf: Uint8Array): string[] {
  let ids: string[];
  try {
    ids = JSON.parse(Buffer.from(idsBuf.buffer, idsBuf.byteOffset, idsBuf.byteLength).toString('utf8')) as string[];
  } catch {
    corrupt(dir, `${IDS_FILE} is not valid JSON`);
  }
  if (!Array.isArray(ids) || ids.length !== card.count || !ids.every((x) => typeof x === 'string')) corrupt(dir, `${IDS_FILE} does not hold ${card.count} string ids`);
  return ids;
}

function open(dir: string, card: IndexCard, graph: GraphStorage, idsBuf: Uint8Array, vectorsBuf: Uint8Array | null, mode: VerifyMode): LoadedIndex {
  // Checksums first: a damaged file is reported as such rather than as whatever it breaks.
  verifyFile(dir, HNSW_FILE, graph.bytes, card.files[HNSW_FILE], mode);
  verifyFile(dir, IDS_FILE, idsBuf, card.files[IDS_FILE], mode);
  if (vectorsBuf) verifyFile(dir, VECTORS_FILE, vectorsBuf, card.files[VECTORS_FILE], mode);
  const ids = parseIds(dir, card, idsBuf);
  const hnsw = HnswSearch.fromGraph(HnswGraph.fromStorage(graph, card.dim), ids, paramsOf(card));
  return new LoadedIndex(dir, card, ids, hnsw);
}

/**
 * Loads and verifies an index folder. Sizes are always checked; the files searching reads
 * (hnsw.bin, ids.json) are checked by CRC-32 (default) or SHA-256, and with 'sha256' also
 * vectors.f32 (which searching does not need: the graph file holds the same vectors). Any
 * mismatch is a UserError (code corrupt_index) naming the file.
 */
export function loadIndexDir(dir: string, opts: { verify?: VerifyMode } = {}): LoadedIndex {
  const mode = opts.verify ?? 'crc32';
  const card = readCheckedCard(dir);
  const ids = readFileSync(join(dir, IDS_FILE));
  const vectors = mode === 'sha256' ? readFileSync(join(dir, VECTORS_FILE)) : null;
  return open(dir, card, HnswGraph.readStorageSync(join(dir, HNSW_FILE)), ids, vectors, mode);
}

/** `loadIndexDir` with the file reads off the event loop (for a server swapping indexes in). */
export async function loadIndexDirAsync(dir: string, opts: { verify?: VerifyMode } = {}): Promise<LoadedIndex> {
  const mode = opts.verify ?? 'crc32';
  const card = readCheckedCard(dir);
  const [graph, ids, vectors] = await Promise.all([
    HnswGraph.readStorage(join(dir, HNSW_FILE)),
    readFile(join(dir, IDS_FILE)),
    mode === 'sha256' ? readFile(join(dir, VECTORS_FILE)) : Promise.resolve(null),
  ]);
  return open(dir, card, graph, ids, vectors, mode);
}
