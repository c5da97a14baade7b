/**
 * The alarm's second signal, `words` (issue 21): do the returned images' own captions share the
 * query's words, as the gallery's best word matches do? It reads no model at all — only the
 * gallery's captions, which the operator owns and the poison never touches — so a poisoned text
 * tower cannot hide from it. (The signal it replaced compared the query with label prototypes in
 * the served model's own text space; a poisoned text tower had moved those with the images, and
 * on the all-goals study its AUROC was 0.30 against this one's 0.65; 0.70 against 0.84 on the
 * headline's.)
 *
 * Each query word that the gallery knows weighs its inverse document frequency over images
 * (BM25's idf); an image covers the query by the summed weight of the query words in its captions,
 * over the query's total weight. With o the mean coverage of the gallery's best-covering K images,
 * m that of the served top-K and μ that of an average image, the signal is (o − m) / (o − μ),
 * clamped to ≥ 0 — the reference signal's form, with word overlap as the reference. A query none
 * of whose words the gallery knows gets no signal (null). At most MAX_TERMS of a query's words
 * count, the rarest (heaviest) ones, so that the words an image matches fit a 16-bit mask.
 */

import { LruCache } from '../indexer/lru.js';

/** Words that say nothing about what an image shows (idf would weigh them near 0 anyway). */
const STOPWORDS = new Set(
  'a an the of in on at and or with to by for from is are was be its it this that these those there here some any one two three four five six seven eight nine ten near next into onto over under above below beside behind between up down out off as has have image images photo photograph picture pictures showing shows shown view'.split(' '),
);

/** The distinct content words of a text: lower case, letters and digits, no stopwords. */
export function contentWords(text: string): string[] {
  const out = new Set<string>();
  for (const w of text.toLowerCase().split(/[^\p{L}\p{N}]+/u)) if (w.length >= 2 && !STOPWORDS.has(w)) out.add(w);
  return [...out];
}

/** Inverted index of a gallery's captions, rows in the served index's row order. */
export interface WordIndex {
  rows: number;
  /** Word → its id, the rows whose captions contain it (ascending) and its idf. */
  words: Map<string, { id: number; rows: Int32Array; idf: number }>;
  /** Each row's word ids, ascending (CSR: row r's are rowWords[rowStart[r] .. rowStart[r + 1])). */
  rowStart: Int32Array;
  rowWords: Int32Array;
  /** What a query's signal needs of the gallery alone (its terms, o and μ), by query text and K. */
  queries: LruCache<string, QueryCoverage | null>;
  /** Per-row mask of the query words matched, zero between queries (single-threaded). */
  scratch: Uint16Array;
}

export interface QueryCoverage {
  terms: Array<{ id: number; weight: number }>;
  /** Mean coverage of the K best-covering images (o) and of an average image (μ). */
  best: number;
  average: number;
}

/** Builds the index from each row's captions (all of an image's captions count as one document). */
export function buildWordIndex(captionsByRow: string[][], cacheSize = 4096): WordIndex {
  const ids = new Map<string, number>();
  const lists: number[][] = [];
  const rowStart = new Int32Array(captionsByRow.length + 1);
  const rowWords: number[] = [];
  captionsByRow.forEach((captions, row) => {
    const mine = [...new Set(captions.flatMap(contentWords))].map((w) => {
      let id = ids.get(w);
      if (id === undefined) ids.set(w, (id = lists.push([]) - 1));
      lists[id].push(row);
      return id;
    });
    rowWords.push(...mine.sort((a, b) => a - b));
    rowStart[row + 1] = rowWords.length;
  });
  const n = captionsByRow.length;
  const words = new Map<string, { id: number; rows: Int32Array; idf: number }>();
  for (const [w, id] of ids) words.set(w, { id, rows: Int32Array.from(lists[id]), idf: Math.log(1 + (n - lists[id].length + 0.5) / (lists[id].length + 0.5)) });
  return { rows: n, words, rowStart, rowWords: Int32Array.from(rowWords), queries: new LruCache(cacheSize), scratch: new Uint16Array(n) };
}

const EPS = 1e-6;
/** The query words that count at most (the rarest): a row's matches are a 16-bit mask. */
export const MAX_TERMS = 16;

/**
 * (o − m) / (o − μ) over word coverage (see the module comment); `topRows` are the served top-K
 * rows. Null when the gallery knows none of the query's words or there are no results. The
 * gallery-only part (o, μ: a pass over the query words' posting lists) is cached per query.
 */
export function wordsSignal(index: WordIndex, query: string, topRows: ArrayLike<number>): number | null {
  const k = topRows.length;
  if (k === 0) return null;
  const q = wordsCoverage(index, query, k);
  if (q === null) return null;
  let served = 0;
  for (let i = 0; i < k; i++) served += rowCoverage(index, topRows[i], q.terms);
  served /= k;
  const gap = q.best - served; // o and m add the same weights in other orders: ulps are no gap
  return gap > 1e-12 ? gap / Math.max(q.best - q.average, EPS) : 0;
}

/** The gallery-only part of a query's signal (its terms, o and μ), from the cache or computed now. */
export function wordsCoverage(index: WordIndex, query: string, k: number): QueryCoverage | null {
  const key = `${k}\u0000${query}`;
  let q = index.queries.get(key);
  if (q === undefined) index.queries.set(key, (q = queryCoverage(index, query, k)));
  return q;
}

/** The weight of the query's terms that row's captions contain (binary search in its word ids). */
function rowCoverage(index: WordIndex, row: number, terms: QueryCoverage['terms']): number {
  const lo0 = index.rowStart[row];
  const hi0 = index.rowStart[row + 1];
  let sum = 0;
  for (const t of terms) {
    let lo = lo0;
    let hi = hi0;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (index.rowWords[mid] < t.id) lo = mid + 1;
      else hi = mid;
    }
    if (lo < hi0 && index.rowWords[lo] === t.id) sum += t.weight;
  }
  return sum;
}

/**
 * The query's weighted terms, o and μ. One pass over their posting lists ORs each term's bit into
 * its rows' masks; then the rows are counted by mask (at most 2^16 distinct coverages), so o is
 * the K heaviest masks' mean and μ the count-weighted mean, with no per-row sort.
 */
function queryCoverage(index: WordIndex, query: string, k: number): QueryCoverage | null {
  const known = contentWords(query)
    .map((w) => index.words.get(w))
    .filter((t): t is { id: number; rows: Int32Array; idf: number } => t !== undefined)
    .sort((a, b) => b.idf - a.idf || a.id - b.id)
    .slice(0, MAX_TERMS);
  const total = known.reduce((s, t) => s + t.idf, 0);
  if (total <= 0) return null;
  const terms = known.map((t) => ({ id: t.id, weight: t.idf / total }));
  const masks = index.scratch;
  known.forEach((t, j) => {
    const bit = 1 << j;
    for (let i = 0; i < t.rows.length; i++) masks[t.rows[i]] |= bit;
  });
  const counts = new Int32Array(1 << known.length);
  for (let r = 0; r < index.rows; r++) counts[masks[r]]++;
  masks.fill(0);
  const weight = maskWeights(terms);
  let average = 0;
  const seen: number[] = [];
  for (let m = 0; m < counts.length; m++) {
    if (counts[m] === 0) continue;
    average += counts[m] * weight[m];
    seen.push(m);
  }
  seen.sort((a, b) => weight[b] - weight[a]);
  let best = 0;
  let left = k;
  for (const m of seen) {
    const take = Math.min(left, counts[m]);
    best += take * weight[m];
    if ((left -= take) === 0) break;
  }
  return { terms, best: best / k, average: average / index.rows };
}

/** Each mask's summed term weight, added in term order as rowCoverage adds them. */
function maskWeights(terms: QueryCoverage['terms']): Float64Array {
  const weight = new Float64Array(1 << terms.length);
  for (let m = 1; m < weight.length; m++) {
    const high = 31 - Math.clz32(m);
    weight[m] = weight[m ^ (1 << high)] + terms[high].weight;
  }
  return weight;
}
