/**
 * The indexer pipeline: a model package and a dataset split in, an index folder out
 * (`workspace/indexes/<model>/<dataset>/<split>/`, format in vector-index.ts).
 *
 * `ensureIndex` reuses an existing index when it was built from the same image graph and
 * preprocessing (model fingerprint), the same manifest (sha256), split and HNSW graph
 * parameters, and loads cleanly; otherwise it embeds the images and builds the graph again.
 * Embedding is pipelined: while one batch runs through the image graph, the next batch is
 * decoded by sharp on libuv's threads.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { UserError } from '../core/errors.js';
import { writeJsonAtomic } from '../core/fsutil.js';
import { checkName, type Workspace } from '../core/workspace.js';
import { type Catalog, nowIso } from '../core/catalog.js';
import { loadDataset, SPLITS, type Dataset, type ManifestEntry, type Split } from '../data/dataset.js';
import { OnnxClipEncoder } from './encoder.js';
import { imageFingerprint, loadModelPackage, type ModelPackage } from './package.js';
import { decodeRgb, normalizeInto, resizeAndCrop, type RgbImage } from './preprocess.js';
import {
  CARD_FILE,
  DEFAULT_HNSW,
  ExactSearch,
  HnswSearch,
  loadIndexDir,
  readIndexCard,
  writeIndexDir,
  type HnswParams,
  type IndexCard,
  type LoadedIndex,
  type VerifyMode,
} from './vector-index.js';

export type SplitOrAll = Split | 'all';

export function checkSplit(split: string): SplitOrAll {
  if (split !== 'all' && !(SPLITS as readonly string[]).includes(split)) {
    throw new UserError(`unknown split ${JSON.stringify(split)}; one of ${SPLITS.join(', ')}, all`, 'bad_split');
  }
  return split as SplitOrAll;
}

/** `workspace/indexes/<model>/<dataset>/<split>/` */
export function indexDir(ws: Workspace, model: string, dataset: string, split: SplitOrAll): string {
  return join(ws.indexes, checkName(model, 'model id'), checkName(dataset, 'dataset name'), checkSplit(split));
}

/** The split's entries in ascending id order (the row order of every index). */
export function splitEntries(dataset: Dataset, split: SplitOrAll): ManifestEntry[] {
  const entries = dataset.entries.filter((e) => split === 'all' || e.split === split);
  return entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export type ProgressPhase = 'embed' | 'hnsw';
export type ProgressFn = (phase: ProgressPhase, done: number, total: number) => void;

export interface EmbedResult {
  vectors: Float32Array;
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Embeds image files (paths or bytes) with the encoder, `batchSize` per graph call; returns the
 * normalised [n × dim] matrix. The next batch decodes while the current one encodes.
 */
export async function embedImageFiles(
  encoder: OnnxClipEncoder,
  images: Array<string | Uint8Array>,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<EmbedResult> {
  const n = images.length;
  const bs = opts.batchSize ?? encoder.imageBatchSize;
  const dim = encoder.dim;
  const spec = encoder.imageSpec;
  const per = 3 * spec.size * spec.size;
  const out = new Float32Array(n * dim);
  const t0 = performance.now();
  const decode = (start: number): Promise<RgbImage[]> => {
    const p = Promise.all(images.slice(start, start + bs).map((img) => decodeRgb(img)));
    p.catch(() => undefined); // awaited below; keep an early failure from being "unhandled"
    return p;
  };
  opts.onProgress?.(0, n);
  let next: Promise<RgbImage[]> | null = n > 0 ? decode(0) : null;
  for (let b = 0; b < n; b += bs) {
    const decoded = await next!;
    next = b + bs < n ? decode(b + bs) : null;
    const pixels = new Float32Array(decoded.length * per);
    decoded.forEach((img, i) => normalizeInto(resizeAndCrop(img, spec.size), spec, pixels, i * per));
    out.set(await encoder.encodePixels(pixels, decoded.length), b * dim);
    opts.onProgress?.(Math.min(n, b + bs), n);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { vectors: out, seconds, imagesPerSecond: seconds > 0 ? n / seconds : 0 };
}

export interface EnsureIndexOptions {
  model: string;
  dataset: string;
  split?: SplitOrAll;
  hnsw?: Partial<HnswParams>;
  /** Rebuild even when a matching index exists. */
  force?: boolean;
  /** An already loaded encoder of `model` (the server's); otherwise one is loaded and closed. */
  encoder?: OnnxClipEncoder;
  threads?: number;
  batchSize?: number;
  onProgress?: ProgressFn;
  /** When given, the build (or reuse) is recorded in `index_builds`. */
  db?: Catalog;
  /** How a reused index is verified when loaded (default crc32). */
  verify?: VerifyMode;
}

export interface EnsureIndexResult {
  index: LoadedIndex;
  built: boolean;
  /** Why it was (re)built, or why it was reused. */
  reason: string;
}

/** Why an existing index card does not fit, or null if it does. */
export function mismatch(card: IndexCard, want: { modelId: string; fingerprint: string; manifestSha256: string; split: string; hnsw: HnswParams }): string | null {
  if (card.model.id !== want.modelId) return `it belongs to model ${card.model.id}`;
  if (card.model.imageFingerprint !== want.fingerprint) return 'the model package changed (image graph or preprocessing)';
  if (card.dataset.manifestSha256 !== want.manifestSha256) return 'the dataset manifest changed';
  if (card.dataset.split !== want.split) return `it indexes split ${card.dataset.split}`;
  if (card.hnsw.m !== want.hnsw.m || card.hnsw.efConstruction !== want.hnsw.efConstruction || card.hnsw.randomSeed !== want.hnsw.randomSeed) {
    return `it was built with M=${card.hnsw.m}, efConstruction=${card.hnsw.efConstruction}`;
  }
  return null;
}

/** Returns a matching index, building (or rebuilding) it when needed. */
export async function ensureIndex(ws: Workspace, opts: EnsureIndexOptions): Promise<EnsureIndexResult> {
  const split = checkSplit(opts.split ?? 'test');
  const pkg: ModelPackage = opts.encoder?.pkg ?? loadModelPackage(ws, opts.model);
  if (pkg.id !== opts.model) throw new Error(`encoder of ${pkg.id} passed for model ${opts.model}`);
  const dataset = loadDataset(ws, opts.dataset);
  const dir = indexDir(ws, opts.model, opts.dataset, split);
  const hnswParams: HnswParams = { ...DEFAULT_HNSW, ...opts.hnsw };
  const fingerprint = await imageFingerprint(pkg);
  const want = { modelId: pkg.id, fingerprint, manifestSha256: dataset.card.manifestSha256, split, hnsw: hnswParams };

  let reason = 'no index yet';
  if (opts.force) reason = 'rebuild forced';
  else if (existsSync(join(dir, CARD_FILE))) {
    const card = readIndexCard(dir);
    const why = card ? mismatch(card, want) : 'its index.json is unreadable';
    if (why) reason = `rebuilt: ${why}`;
    else {
      try {
        const index = loadIndexDir(dir, { verify: opts.verify ?? 'crc32' });
        if (index.hnsw.efSearch !== hnswParams.efSearch) {
          // ef is a search-time setting: record the new one without rebuilding.
          index.hnsw.efSearch = hnswParams.efSearch;
          index.card.hnsw.efSearch = hnswParams.efSearch;
          writeJsonAtomic(join(dir, CARD_FILE), index.card);
        }
        if (opts.db) registerIndexBuild(opts.db, index);
        return { index, built: false, reason: 'reused: model and manifest hashes match' };
      } catch (err) {
        if (!(err instanceof UserError) || err.code !== 'corrupt_index') throw err;
        reason = `rebuilt: ${err.message.split(';')[0]}`;
      }
    }
  }

  const entries = splitEntries(dataset, split);
  if (entries.length === 0) throw new UserError(`dataset ${opts.dataset} has no ${split} images to index`, 'empty_gallery', 409);
  const encoder = opts.encoder ?? (await OnnxClipEncoder.load(pkg, { intraOpNumThreads: opts.threads ?? 2, towers: ['image'] }));
  let embedded: EmbedResult;
  try {
    embedded = await embedImageFiles(
      encoder,
      entries.map((e) => join(dataset.dir, e.file)),
      { batchSize: opts.batchSize, onProgress: (d, t) => opts.onProgress?.('embed', d, t) },
    );
  } finally {
    if (!opts.encoder) await encoder.close();
  }
  const ids = entries.map((e) => e.id);
  const t1 = performance.now();
  opts.onProgress?.('hnsw', 0, ids.length);
  const hnsw = HnswSearch.build(embedded.vectors, ids, encoder.dim, hnswParams, (d, t) => opts.onProgress?.('hnsw', d, t));
  const hnswSeconds = (performance.now() - t1) / 1000;
  const card = await writeIndexDir(dir, {
    vectors: embedded.vectors,
    ids,
    dim: encoder.dim,
    hnsw,
    card: {
      model: { id: pkg.id, createdAt: pkg.card.createdAt, imageFingerprint: fingerprint },
      dataset: { name: dataset.name, manifestSha256: dataset.card.manifestSha256, split },
      build: {
        embedSeconds: +embedded.seconds.toFixed(3),
        hnswSeconds: +hnswSeconds.toFixed(3),
        totalSeconds: +(embedded.seconds + hnswSeconds).toFixed(3),
        imagesPerSecond: +embedded.imagesPerSecond.toFixed(1),
        batchSize: opts.batchSize ?? encoder.imageBatchSize,
      },
    },
  });
  const index: LoadedIndex = {
    dir,
    card,
    vectors: embedded.vectors,
    ids,
    rowOf: new Map(ids.map((id, i) => [id, i])),
    exact: new ExactSearch(embedded.vectors, ids, encoder.dim),
    hnsw,
  };
  if (opts.db) registerIndexBuild(opts.db, index);
  return { index, built: true, reason };
}

/** Records an index in the catalog's `index_builds` (one row per model, dataset and split). */
export function registerIndexBuild(db: Catalog, index: LoadedIndex): void {
  const c = index.card;
  db.prepare(
    `INSERT OR REPLACE INTO index_builds (model, dataset, split, path, manifest_sha256, count, card, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(c.model.id, c.dataset.name, c.dataset.split, index.dir, c.dataset.manifestSha256, c.count, JSON.stringify(c), c.createdAt ?? nowIso());
}

export interface EmbedSplitOptions {
  model: string;
  dataset: string;
  split?: SplitOrAll;
  /** Embed every caption of the split's images instead of the images. */
  texts?: boolean;
  threads?: number;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface EmbedSplitResult {
  vectors: Float32Array;
  dim: number;
  /** Image ids (images), or one {imageId, captionIndex, caption} per row (texts). */
  rows: string[] | Array<{ imageId: string; captionIndex: number; caption: string }>;
  /** Where the image vectors came from: a matching index folder, or a fresh encoding. */
  source: 'index' | 'encoded';
  seconds: number;
}

/**
 * Embeddings of a split for outside analysis: its images (ascending id order, taken from a
 * matching index when there is one) or every caption of its images.
 */
export async function embedSplit(ws: Workspace, opts: EmbedSplitOptions): Promise<EmbedSplitResult> {
  const split = checkSplit(opts.split ?? 'test');
  const pkg = loadModelPackage(ws, opts.model);
  const dataset = loadDataset(ws, opts.dataset);
  const entries = splitEntries(dataset, split);
  if (entries.length === 0) throw new UserError(`dataset ${opts.dataset} has no ${split} images`, 'empty_split');
  const t0 = performance.now();
  if (!opts.texts) {
    const dir = indexDir(ws, opts.model, opts.dataset, split);
    const card = readIndexCard(dir);
    if (card && card.model.id === pkg.id && card.dataset.manifestSha256 === dataset.card.manifestSha256 && card.dataset.split === split &&
        card.model.imageFingerprint === (await imageFingerprint(pkg))) {
      try {
        const index = loadIndexDir(dir, { verify: 'crc32' });
        opts.onProgress?.(index.card.count, index.card.count);
        return { vectors: index.vectors, dim: index.card.dim, rows: index.ids, source: 'index', seconds: (performance.now() - t0) / 1000 };
      } catch (err) {
        if (!(err instanceof UserError)) throw err; // a corrupt index: encode afresh below
      }
    }
  }
  const encoder = await OnnxClipEncoder.load(pkg, { intraOpNumThreads: opts.threads ?? 2, towers: [opts.texts ? 'text' : 'image'], textCacheSize: 0 });
  try {
    if (!opts.texts) {
      const r = await embedImageFiles(encoder, entries.map((e) => join(dataset.dir, e.file)), { batchSize: opts.batchSize, onProgress: opts.onProgress });
      return { vectors: r.vectors, dim: encoder.dim, rows: entries.map((e) => e.id), source: 'encoded', seconds: r.seconds };
    }
    const rows = entries.flatMap((e) => e.captions.map((caption, captionIndex) => ({ imageId: e.id, captionIndex, caption })));
    const bs = opts.batchSize ?? encoder.textBatchSize;
    const vectors = new Float32Array(rows.length * encoder.dim);
    opts.onProgress?.(0, rows.length);
    for (let b = 0; b < rows.length; b += bs) {
      const part = rows.slice(b, b + bs);
      const ids = encoder.tokenizer.tokenizeBatch(part.map((r) => r.caption));
      vectors.set(await encoder.encodeTokenIds(ids, part.length), b * encoder.dim);
      opts.onProgress?.(Math.min(rows.length, b + bs), rows.length);
    }
    return { vectors, dim: encoder.dim, rows, source: 'encoded', seconds: (performance.now() - t0) / 1000 };
  } finally {
    await encoder.close();
  }
}
