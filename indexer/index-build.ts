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
import { existsSync, readFileSync } from 'node:fs';
import { NotFoundError, UserError } from '../core/errors.js';
import { writeJsonAtomic } from '../core/fsutil.js';
import { checkName, type Workspace } from '../core/workspace.js';
import { type Catalog, nowIso, upsertIndexBuild } from '../core/catalog.js';
import { startJob } from '../core/jobs.js';
import { datasetDir, loadDataset, SPLITS, type Dataset, type DatasetCard, type ManifestEntry, type Split } from '../data/dataset.js';
import { OnnxClipEncoder } from './encoder.js';
import { imageFingerprint, loadModelPackage, type ModelPackage } from './package.js';
import { decodeRgb, normalizeInto, resizeAndCrop, type ImageSpec } from './preprocess.js';
import { ImageEncodeWorker } from './image-worker.js';
import {
  CARD_FILE,
  DEFAULT_HNSW,
  HnswSearch,
  loadIndexDir,
  loadIndexDirAsync,
  readIndexCard,
  writeIndexDir,
  type HnswParams,
  type IndexCard,
  LoadedIndex,
  type VerifyMode,
} from './vector-index.js';

export type SplitOrAll = Split | 'all';

export function checkSplit(split: string): SplitOrAll {
  if (split !== 'all' && !(SPLITS as readonly string[]).includes(split)) {
    throw new UserError(`unknown split ${JSON.stringify(split)}; one of ${SPLITS.join(', ')}, all`, 'bad_split');
  }
  return split as SplitOrAll;
}

/** A dataset's dataset.json alone (cheap next to its manifest). */
export function readDatasetCard(ws: Workspace, name: string): DatasetCard {
  const path = join(datasetDir(ws, name), 'dataset.json');
  if (!existsSync(path)) throw new NotFoundError(`unknown dataset ${JSON.stringify(name)}; \`poisonlens data list\` shows the ones there are`, 'dataset_not_found');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DatasetCard;
  } catch (err) {
    throw new UserError(`${path} is not valid JSON: ${(err as Error).message}`, 'bad_dataset');
  }
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

/** Something that turns a batch of preprocessed pixels into normalised embeddings. */
export interface PixelEncoder {
  readonly dim: number;
  readonly imageSpec: ImageSpec;
  encode(pixels: Float32Array, n: number): Promise<Float32Array>;
}

/** The image graph on this thread (simple; the thread waits while a batch encodes). */
export function inlinePixelEncoder(encoder: OnnxClipEncoder): PixelEncoder {
  return { dim: encoder.dim, imageSpec: encoder.imageSpec, encode: (p, n) => encoder.encodePixels(p, n) };
}

/** The image graph in a worker thread: this thread prepares the next batch meanwhile. */
export function workerPixelEncoder(worker: ImageEncodeWorker, pkg: ModelPackage): PixelEncoder {
  return { dim: worker.dim, imageSpec: pkg.card.image, encode: (p, n) => worker.encode(p, n) };
}

/**
 * Embeds image files (paths or bytes), `batchSize` per graph call; returns the normalised
 * [n × dim] matrix. Pipelined: batch b+1 is decoded and preprocessed while batch b encodes
 * (fully so with a worker encoder; with an inline one, sharp's decoding still overlaps).
 */
export async function embedImageFiles(
  encoder: PixelEncoder | OnnxClipEncoder,
  images: Array<string | Uint8Array>,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<EmbedResult> {
  const enc = encoder instanceof OnnxClipEncoder ? inlinePixelEncoder(encoder) : encoder;
  const n = images.length;
  const bs = opts.batchSize ?? 64;
  const dim = enc.dim;
  const spec = enc.imageSpec;
  const per = 3 * spec.size * spec.size;
  const out = new Float32Array(n * dim);
  const t0 = performance.now();
  const prepare = async (start: number): Promise<Float32Array> => {
    const decoded = await Promise.all(images.slice(start, start + bs).map((img) => decodeRgb(img)));
    const pixels = new Float32Array(decoded.length * per);
    decoded.forEach((img, i) => normalizeInto(resizeAndCrop(img, spec.size), spec, pixels, i * per));
    return pixels;
  };
  const started = (p: Promise<Float32Array>) => {
    p.catch(() => undefined); // awaited below; keeps an early failure from counting as "unhandled"
    return p;
  };
  opts.onProgress?.(0, n);
  let next: Promise<Float32Array> | null = n > 0 ? started(prepare(0)) : null;
  let inflight: Promise<void> | null = null;
  let done = 0;
  for (let b = 0; b < n; b += bs) {
    const pixels = await next!;
    const count = pixels.length / per;
    if (inflight) await inflight;
    inflight = enc.encode(pixels, count).then((emb) => {
      out.set(emb, b * dim);
      done += count;
      opts.onProgress?.(done, n);
    });
    inflight.catch(() => undefined);
    next = b + bs < n ? started(prepare(b + bs)) : null;
  }
  if (inflight) await inflight;
  const seconds = (performance.now() - t0) / 1000;
  return { vectors: out, seconds, imagesPerSecond: seconds > 0 ? n / seconds : 0 };
}

/**
 * The best pixel encoder for a bulk job: the image graph in a worker thread, or (if a worker
 * cannot start) on this thread. `close` releases whatever was opened.
 */
export async function openPixelEncoder(
  pkg: ModelPackage,
  opts: { threads?: number; encoder?: OnnxClipEncoder; worker?: boolean },
): Promise<{ enc: PixelEncoder; close: () => Promise<void>; mode: 'worker' | 'inline' }> {
  if (opts.worker !== false) {
    try {
      const w = await ImageEncodeWorker.start(pkg, opts.threads ?? 2);
      return { enc: workerPixelEncoder(w, pkg), close: () => w.close(), mode: 'worker' };
    } catch (err) {
      if (err instanceof UserError) throw err; // the graph itself is bad
      // Workers unavailable here: encode on this thread.
    }
  }
  if (opts.encoder) return { enc: inlinePixelEncoder(opts.encoder), close: async () => undefined, mode: 'inline' };
  const e = await OnnxClipEncoder.load(pkg, { intraOpNumThreads: opts.threads ?? 2, towers: ['image'] });
  return { enc: inlinePixelEncoder(e), close: () => e.close(), mode: 'inline' };
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
  /** Encode in a worker thread while this one prepares the next batch (default true). */
  worker?: boolean;
  /** Never build: a missing, stale or corrupt index is an error (409) instead. */
  reuseOnly?: boolean;
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
  // Only dataset.json for the reuse check: the manifest is read when a build needs it.
  const datasetCard = readDatasetCard(ws, opts.dataset);
  const dir = indexDir(ws, opts.model, opts.dataset, split);
  const hnswParams: HnswParams = { ...DEFAULT_HNSW, ...opts.hnsw };
  const fingerprint = await imageFingerprint(pkg);
  const want = { modelId: pkg.id, fingerprint, manifestSha256: datasetCard.manifestSha256, split, hnsw: hnswParams };

  let reason = 'no index yet';
  if (opts.force) reason = 'rebuild forced';
  else if (existsSync(join(dir, CARD_FILE))) {
    const card = readIndexCard(dir);
    const why = card ? mismatch(card, want) : 'its index.json is unreadable';
    if (why) reason = `rebuilt: ${why}`;
    else {
      try {
        const index = await loadIndexDirAsync(dir, { verify: opts.verify ?? 'crc32' });
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
        // Callers that may not build (a server search) get the corruption as a clear 409.
        if (opts.reuseOnly) throw new UserError(err.message, 'corrupt_index', 409);
        reason = `rebuilt: ${err.message.split(';')[0]}`;
      }
    }
  }

  if (opts.reuseOnly) throw new UserError(`no usable index for ${pkg.id} over ${opts.dataset}/${split} (${reason}); build it with \`poisonlens index\``, 'index_missing', 409);
  // A build is recorded as a job when a catalog is given (a killed build is marked failed at the
  // next start-up; its temp folder is never read and is removed by the next build).
  const job = opts.db ? startJob(opts.db, 'index', `${pkg.id}/${opts.dataset}/${split}`, { model: pkg.id, dataset: opts.dataset, split, hnsw: hnswParams, reason, dir }) : null;
  try {
    const r = await buildIndex(ws, opts, { pkg, split, dir, hnswParams, fingerprint, reason }, (phase, done, total) => {
      job?.progress({ phase, done, total }, done === 0 || done >= total);
      opts.onProgress?.(phase, done, total);
    });
    job?.done({ phase: 'done', done: r.index.card.count, total: r.index.card.count });
    return r;
  } catch (err) {
    job?.fail(err);
    throw err;
  }
}

async function buildIndex(
  ws: Workspace,
  opts: EnsureIndexOptions,
  b: { pkg: ModelPackage; split: SplitOrAll; dir: string; hnswParams: HnswParams; fingerprint: string; reason: string },
  onProgress: ProgressFn,
): Promise<EnsureIndexResult> {
  const { pkg, split, dir, hnswParams, fingerprint, reason } = b;
  opts = { ...opts, onProgress };
  // Say at once that a build is under way (reading the manifest and starting the encoder take
  // a moment): the server answers requests for a model whose index is building with a 503.
  const counts = readDatasetCard(ws, opts.dataset).counts as Partial<Record<string, number>> | undefined;
  const expected = split === 'all' ? Object.values(counts ?? {}).reduce<number>((a, n) => a + (n ?? 0), 0) : (counts?.[split] ?? 0);
  if (expected > 0) onProgress('embed', 0, expected);
  const dataset = loadDataset(ws, opts.dataset);
  const entries = splitEntries(dataset, split);
  if (entries.length === 0) throw new UserError(`dataset ${opts.dataset} has no ${split} images to index`, 'empty_gallery', 409);
  const pixelEncoder = await openPixelEncoder(pkg, { threads: opts.threads, encoder: opts.encoder, worker: opts.worker });
  let embedded: EmbedResult;
  try {
    embedded = await embedImageFiles(
      pixelEncoder.enc,
      entries.map((e) => join(dataset.dir, e.file)),
      { batchSize: opts.batchSize, onProgress: (d, t) => opts.onProgress?.('embed', d, t) },
    );
  } finally {
    await pixelEncoder.close();
  }
  const dim = pixelEncoder.enc.dim;
  const ids = entries.map((e) => e.id);
  const t1 = performance.now();
  opts.onProgress?.('hnsw', 0, ids.length);
  const hnsw = HnswSearch.build(embedded.vectors, ids, dim, hnswParams, (d, t) => opts.onProgress?.('hnsw', d, t));
  const hnswSeconds = (performance.now() - t1) / 1000;
  const card = await writeIndexDir(dir, {
    vectors: embedded.vectors,
    ids,
    dim,
    hnsw,
    card: {
      model: { id: pkg.id, createdAt: pkg.card.createdAt, imageFingerprint: fingerprint },
      dataset: { name: dataset.name, manifestSha256: dataset.card.manifestSha256, split },
      build: {
        embedSeconds: +embedded.seconds.toFixed(3),
        hnswSeconds: +hnswSeconds.toFixed(3),
        totalSeconds: +(embedded.seconds + hnswSeconds).toFixed(3),
        imagesPerSecond: +embedded.imagesPerSecond.toFixed(1),
        batchSize: opts.batchSize ?? 64,
        encoder: pixelEncoder.mode,
        // onnxruntime intra-op threads of the image graph (null: an encoder loaded elsewhere, e.g. the server's).
        threads: opts.encoder && pixelEncoder.mode === 'inline' ? null : (opts.threads ?? 2),
      },
    },
  });
  const index = new LoadedIndex(dir, card, ids, hnsw, embedded.vectors);
  if (opts.db) registerIndexBuild(opts.db, index);
  return { index, built: true, reason };
}

/** Records an index in the catalog's `index_builds` (one row per model, dataset and split). */
export function registerIndexBuild(db: Catalog, index: LoadedIndex): void {
  const c = index.card;
  upsertIndexBuild(db, { model: c.model.id, dataset: c.dataset.name, split: c.dataset.split, path: index.dir, manifestSha256: c.dataset.manifestSha256, count: c.count, card: c, createdAt: c.createdAt ?? nowIso() });
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
  if (!opts.texts) {
    const pe = await openPixelEncoder(pkg, { threads: opts.threads });
    try {
      const r = await embedImageFiles(pe.enc, entries.map((e) => join(dataset.dir, e.file)), { batchSize: opts.batchSize, onProgress: opts.onProgress });
      return { vectors: r.vectors, dim: pe.enc.dim, rows: entries.map((e) => e.id), source: 'encoded', seconds: r.seconds };
    } finally {
      await pe.close();
    }
  }
  const encoder = await OnnxClipEncoder.load(pkg, { intraOpNumThreads: opts.threads ?? 2, towers: ['text'], textCacheSize: 0 });
  try {
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
