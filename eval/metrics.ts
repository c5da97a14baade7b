/**
 * Retrieval and attack metrics (ARCHITECTURE.md §5): pure functions over scores and embeddings,
 * no I/O. They follow the paper's released evaluation code, with one thing the reference leaves
 * to the sort made explicit: ties in score are broken by id, ascending (JavaScript string order,
 * i.e. UTF-16 code units, not locale order).
 */
import { dot } from '../indexer/dot.js';
import { RowScorer } from '../indexer/simd.js';
import { mean, median } from './statistics.js';

/** The K of Hit@K that every attack evaluation reports. */
export const HIT_KS = [1, 5, 10, 20, 30, 50] as const;
/** The K of the utility Recall@K. */
export const RECALL_KS = [1, 5, 10] as const;

/** True when item a sorts before item b: higher score first, then smaller key. */
function before(sa: number, ka: string | number, sb: number, kb: string | number): boolean {
  return sa > sb || (sa === sb && ka < kb);
}

/**
 * The gallery sorted for one query: row indices by score descending, ties by id ascending.
 * `ranked[r]` is the row at 0-based rank r.
 */
export function rankGallery(scores: ArrayLike<number>, ids: readonly (string | number)[]): number[] {
  if (scores.length !== ids.length) throw new Error(`rankGallery: ${scores.length} scores but ${ids.length} ids`);
  const rows = Array.from({ length: scores.length }, (_, i) => i);
  return rows.sort((a, b) => (before(scores[a], ids[a], scores[b], ids[b]) ? -1 : before(scores[b], ids[b], scores[a], ids[a]) ? 1 : 0));
}

/** 0-based rank of row `row` in the gallery sorted as in rankGallery, without sorting (O(N)). */
export function rankOf(scores: ArrayLike<number>, ids: readonly (string | number)[], row: number): number {
  const s = scores[row];
  const k = ids[row];
  let r = 0;
  for (let j = 0; j < scores.length; j++) if (j !== row && before(scores[j], ids[j], s, k)) r++;
  return r;
}

/** The target row that ranks best (highest score, ties to the smallest id). */
export function bestTarget(scores: ArrayLike<number>, ids: readonly (string | number)[], targets: readonly number[]): number {
  if (targets.length === 0) throw new Error('minRank: no target rows');
  let best = targets[0];
  for (const t of targets) if (before(scores[t], ids[t], scores[best], ids[best])) best = t;
  return best;
}

/**
 * MinRank of one query: the 0-based position of the best-ranked target row in the gallery
 * sorted by score (descending), ties by id (ascending). 0 = a target is the top result.
 */
export function minRank(scores: ArrayLike<number>, ids: readonly (string | number)[], targets: readonly number[]): number {
  return rankOf(scores, ids, bestTarget(scores, ids, targets));
}

/** Fraction of queries with MinRank < k. */
export function hitAtK(ranks: readonly number[], k: number): number {
  if (ranks.length === 0) return NaN;
  let n = 0;
  for (const r of ranks) if (r < k) n++;
  return n / ranks.length;
}

export interface RankSummary {
  queries: number;
  /** Hit@K by K ("1", "5", …): fraction of queries whose MinRank < K. */
  hit: Record<string, number | null>;
  minRank: { mean: number | null; median: number | null; min: number | null; max: number | null };
}

const orNull = (x: number) => (Number.isFinite(x) ? x : null);

/** Hit@K for each K, mean/median/min/max MinRank and the query count. Empty → nulls. */
export function summarizeRanks(ranks: readonly number[], ks: readonly number[] = HIT_KS): RankSummary {
  const hit: Record<string, number | null> = {};
  for (const k of ks) hit[String(k)] = orNull(hitAtK(ranks, k));
  return {
    queries: ranks.length,
    hit,
    minRank: {
      mean: orNull(mean(ranks)),
      median: orNull(median(ranks)),
      min: ranks.length ? Math.min(...ranks) : null,
      max: ranks.length ? Math.max(...ranks) : null,
    },
  };
}

/** Inner product of two vectors (= cosine similarity when both are L2-normalised). */

export function normalize(v: ArrayLike<number>): Float32Array {
  const n = Math.sqrt(dot(v, v)) || 1;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / n;
  return out;
}

/** Scores of one query against every gallery row (inner products, in double precision). */
export function scoreAll(query: ArrayLike<number>, gallery: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(gallery.length);
  for (let i = 0; i < gallery.length; i++) out[i] = dot(query, gallery[i]);
  return out;
}

/**
 * MinRank of every query against the same gallery and targets (exact, brute force): the
 * attack evaluation's core. Embeddings must be L2-normalised, so scores are cosines.
 *
 * The ranks are those of double-precision scores (as `minRank(scoreAll(…))` gives), found
 * faster: the SIMD kernel scores the whole gallery in float32, and only the rows whose float32
 * score lies within float32's rounding bound of the best target's double-precision score are
 * scored again in double precision.
 */
export function attackRanks(
  queries: readonly ArrayLike<number>[],
  gallery: readonly ArrayLike<number>[],
  galleryIds: readonly (string | number)[],
  targetRows: readonly number[],
): number[] {
  const dim = gallery[0]?.length ?? 0;
  const scorer = queries.length > 0 && targetRows.length > 0 ? RowScorer.create(gallery, dim, 0) : null;
  if (!scorer) return queries.map((q) => minRank(scoreAll(q, gallery), galleryIds, targetRows));
  let maxNorm = 0;
  for (const v of gallery) maxNorm = Math.max(maxNorm, Math.sqrt(dot(v, v)));
  return queries.map((q) => {
    let best = targetRows[0];
    let bestScore = dot(q, gallery[best]);
    for (const t of targetRows) {
      const s = dot(q, gallery[t]);
      if (before(s, galleryIds[t], bestScore, galleryIds[best])) [best, bestScore] = [t, s];
    }
    const key = galleryIds[best];
    // |float32 sum − exact| ≤ n·u·Σ|a_i·b_i| ≤ n·u·‖q‖·‖v‖ (u = 2⁻²⁴); twice that, plus room for the double's own error.
    const eps = (dim + 4) * 2 ** -23 * Math.sqrt(dot(q, q)) * maxNorm;
    const f = scorer.scoreAll(q);
    let rank = 0;
    for (let j = 0; j < f.length; j++) {
      if (j === best) continue;
      const x = f[j];
      if (x > bestScore + eps) rank++;
      else if (x >= bestScore - eps && before(dot(q, gallery[j]), galleryIds[j], bestScore, key)) rank++;
    }
    return rank;
  });
}

export interface RecallInput {
  /** L2-normalised image embeddings, one per image. */
  images: readonly ArrayLike<number>[];
  imageIds: readonly string[];
  /** L2-normalised caption embeddings. */
  texts: readonly ArrayLike<number>[];
  /** For each caption, the row in `images` of the image it describes. */
  textImage: readonly number[];
  ks?: readonly number[];
  /** Only these captions count in IR and only these images in TR (ranks are still over all of them). */
  keepText?: readonly boolean[];
  keepImage?: readonly boolean[];
}

export interface RecallResult {
  /** Text→image: a caption hits at K when its own image is within the top K images. */
  ir: Record<string, number | null>;
  /** Image→text: an image hits at K when any of its captions is within the top K captions. */
  tr: Record<string, number | null>;
  images: number;
  captions: number;
}

/** Every caption's IR rank and every image's TR rank (null: an image without captions). */
export interface RecallRanks {
  ir: number[];
  tr: Array<number | null>;
}

/**
 * The ranks behind utility Recall@K over a split (§5). Image ties are broken by image id,
 * caption ties by the caption's position in `texts` (ascending).
 *
 * Nothing of size captions × images is kept, so a 100k-image gallery fits in memory. Each
 * caption's score with its own image, and each image's best own caption, come first; then every
 * block of captions (sized to stay in the CPU's cache: 1.4x faster than whole columns at 5,000
 * captions) is scored against every image by `RowScorer`'s SIMD kernel, and each score that
 * beats a caption's own image counts towards that caption's IR rank, each that beats an image's
 * best own caption towards its TR rank. The scores are float32 sums (as torch's matmul gives the
 * engine), all from the same kernel, so equal vectors still tie exactly.
 */
export function retrievalRanks(input: Omit<RecallInput, 'ks' | 'keepText' | 'keepImage'> & { blockRows?: number }): RecallRanks {
  const { images, imageIds, texts, textImage } = input;
  if (images.length !== imageIds.length) throw new Error('retrievalRecall: images and imageIds differ in length');
  if (texts.length !== textImage.length) throw new Error('retrievalRecall: texts and textImage differ in length');
  const nI = images.length;
  const nT = texts.length;
  const captionsOf: number[][] = Array.from({ length: nI }, () => []);
  textImage.forEach((i, t) => captionsOf[i].push(t));
  const scorer = captionScorer(texts, captionsOf.reduce((m, c) => Math.max(m, c.length), 0));
  const ownScore = new Float64Array(nT);
  const bestText = new Int32Array(nI).fill(-1); // highest-scoring own caption, ties to the lowest position
  const bestScore = new Float64Array(nI);
  for (let i = 0; i < nI; i++) {
    if (captionsOf[i].length === 0) continue;
    const s = scorer.some(images[i], captionsOf[i]);
    captionsOf[i].forEach((t, k) => {
      ownScore[t] = s[k];
      if (bestText[i] < 0 || before(s[k], t, bestScore[i], bestText[i])) [bestText[i], bestScore[i]] = [t, s[k]];
    });
  }
  const ownId = textImage.map((i) => imageIds[i]);
  const irCount = new Int32Array(nT);
  const trCount = new Int32Array(nI);
  const block = Math.max(4, Math.floor((input.blockRows ?? CACHE_BLOCK_BYTES / (4 * (texts[0]?.length ?? 1))) / 4) * 4);
  for (let t0 = 0; t0 < nT; t0 += block) {
    const b = Math.min(block, nT - t0);
    for (let i = 0; i < nI; i++) {
      const col = scorer.range(images[i], t0, b);
      const id = imageIds[i];
      const bt = bestText[i];
      const bs = bestScore[i];
      for (let r = 0; r < b; r++) {
        const t = t0 + r;
        if (textImage[t] !== i && before(col[r], id, ownScore[t], ownId[t])) irCount[t]++;
        if (bt >= 0 && t !== bt && before(col[r], t, bs, bt)) trCount[i]++;
      }
    }
  }
  return { ir: Array.from(irCount), tr: Array.from(bestText, (t, i) => (t < 0 ? null : trCount[i])) };
}

/** Bytes of caption rows scored per pass over the images: well inside a core's L2 cache. */
const CACHE_BLOCK_BYTES = 256 * 1024;

interface CaptionScorer {
  /** Scores of captions start … start + count − 1 against q (start a multiple of 4). */
  range(q: ArrayLike<number>, start: number, count: number): ArrayLike<number>;
  some(q: ArrayLike<number>, rows: number[]): ArrayLike<number>;
}

/** Scores of one image against captions: SIMD, else plain JavaScript. */
function captionScorer(texts: readonly ArrayLike<number>[], maxPick: number): CaptionScorer {
  const simd = texts.length ? RowScorer.create(texts, texts[0].length, maxPick) : null;
  if (simd) return { range: (q, start, count) => simd.scoreRange(q, start, count), some: (q, rows) => simd.scoreSome(q, rows) };
  const col = new Float64Array(texts.length);
  return {
    range: (q, start, count) => {
      for (let r = 0; r < count; r++) col[r] = dot(q, texts[start + r]);
      return col;
    },
    some: (q, rows) => rows.map((t) => dot(q, texts[t])),
  };
}

/**
 * Recall@K from the ranks, counting only the captions in `keepText` (IR) and the images in
 * `keepImage` (TR) when given. Images without captions are left out of TR (they have nothing to
 * retrieve); `images` and `captions` count what each side was computed over.
 */
export function recallFromRanks(ranks: RecallRanks, ks: readonly number[] = RECALL_KS, keepText?: readonly boolean[], keepImage?: readonly boolean[]): RecallResult {
  const irRanks = ranks.ir.filter((_, t) => !keepText || keepText[t]);
  const trRanks = ranks.tr.filter((r, i): r is number => r !== null && (!keepImage || keepImage[i]));
  const ir: Record<string, number | null> = {};
  const tr: Record<string, number | null> = {};
  for (const k of ks) {
    ir[String(k)] = orNull(hitAtK(irRanks, k));
    tr[String(k)] = orNull(hitAtK(trRanks, k));
  }
  return { ir, tr, images: trRanks.length, captions: irRanks.length };
}

/** Utility Recall@K over a split (§5): `retrievalRanks`, then `recallFromRanks`. */
export function retrievalRecall(input: RecallInput): RecallResult {
  return recallFromRanks(retrievalRanks(input), input.ks ?? RECALL_KS, input.keepText, input.keepImage);
}

/** Cosine distance 1 − cos(a_i, b_i) of each pair of rows (normalised or not). */
export function cosineDistances(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number[] {
  if (a.length !== b.length) throw new Error(`cosineDistances: ${a.length} and ${b.length} rows`);
  return a.map((x, i) => {
    const y = b[i];
    const c = dot(x, y) / (Math.sqrt(dot(x, x)) * Math.sqrt(dot(y, y)) || 1);
    return 1 - c;
  });
}

/**
 * Encoder drift (§5): the mean cosine distance between two models' embeddings of the same
 * items (row i of `a` and row i of `b` embed the same image or text).
 */
export function encoderDrift(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): { mean: number | null; median: number | null; n: number } {
  const d = cosineDistances(a, b);
  return { mean: orNull(mean(d)), median: orNull(median(d)), n: d.length };
}
