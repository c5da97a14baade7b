/**
 * The alarm's third signal, `words` (issue 21): do the returned images' own captions share the
 * query's words, as the gallery's best word matches do? It reads no model at all — only the
 * gallery's captions, which the operator owns and the poison never touches — so a poisoned text
 * tower cannot hide from it the way it hides from the captions signal (whose prototypes are the
 * served model's own text embeddings).
 *
 * Each query word that the gallery knows weighs its inverse document frequency over images
 * (BM25's idf); an image covers the query by the summed weight of the query words in its captions,
 * over the query's total weight. With o the mean coverage of the gallery's best-covering K images,
 * m that of the served top-K and μ that of an average image, the signal is (o − m) / (o − μ),
 * clamped to ≥ 0 — the reference signal's form, with word overlap as the reference. A query none
 * of whose words the gallery knows gets no signal (null).
 */

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
  /** Word → the rows whose captions contain it (ascending) and its idf. */
  words: Map<string, { rows: Int32Array; idf: number }>;
  /** Per-row coverage accumulator, reused across queries (single-threaded). */
  scratch: Float64Array;
}

/** Builds the index from each row's captions (all of an image's captions count as one document). */
export function buildWordIndex(captionsByRow: string[][]): WordIndex {
  const lists = new Map<string, number[]>();
  captionsByRow.forEach((captions, row) => {
    for (const w of new Set(captions.flatMap(contentWords))) {
      let l = lists.get(w);
      if (!l) lists.set(w, (l = []));
      l.push(row);
    }
  });
  const n = captionsByRow.length;
  const words = new Map<string, { rows: Int32Array; idf: number }>();
  for (const [w, l] of lists) words.set(w, { rows: Int32Array.from(l), idf: Math.log(1 + (n - l.length + 0.5) / (l.length + 0.5)) });
  return { rows: n, words, scratch: new Float64Array(n) };
}

const EPS = 1e-6;

/**
 * (o − m) / (o − μ) over word coverage (see the module comment); `topRows` are the served top-K
 * rows. Null when the gallery knows none of the query's words or there are no results.
 */
export function wordsSignal(index: WordIndex, query: string, topRows: ArrayLike<number>): number | null {
  const k = topRows.length;
  const terms = contentWords(query)
    .map((w) => index.words.get(w))
    .filter((t): t is { rows: Int32Array; idf: number } => t !== undefined);
  const total = terms.reduce((s, t) => s + t.idf, 0);
  if (k === 0 || total <= 0) return null;
  const acc = index.scratch;
  const touched: number[] = [];
  let meanAll = 0;
  for (const t of terms) {
    const w = t.idf / total;
    meanAll += (w * t.rows.length) / index.rows;
    for (let i = 0; i < t.rows.length; i++) {
      const r = t.rows[i];
      if (acc[r] === 0) touched.push(r);
      acc[r] += w;
    }
  }
  let served = 0;
  for (let i = 0; i < k; i++) served += acc[topRows[i]] ?? 0;
  served /= k;
  const best = topMean(acc, touched, k);
  for (const r of touched) acc[r] = 0;
  return Math.max(0, best - served) / Math.max(best - meanAll, EPS);
}

/** The mean of the k largest accumulated coverages (rows not touched cover 0), by a running top-k. */
function topMean(acc: Float64Array, touched: number[], k: number): number {
  const top = new Float64Array(k); // ascending; top[0] is the smallest kept
  for (const r of touched) {
    const v = acc[r];
    if (v <= top[0]) continue;
    let i = 0;
    while (i + 1 < k && top[i + 1] < v) {
      top[i] = top[i + 1];
      i++;
    }
    top[i] = v;
  }
  let s = 0;
  for (let i = 0; i < k; i++) s += top[i];
  return s / k;
}
