import { UserError } from '../../core/errors.js';
import type { Workspace } from '../../core/workspace.js';
import { dot } from '../../indexer/dot.js';
import { HnswSearch } from '../../indexer/vector-index.js';
import { filterTrainset, type FilterOptions, type FilterResult } from './filter.js';
import { scorePairs, type PairEmbeddings } from './pairs.js';

/**
 * `poisonlens defend detect`: a local-density detector of poisoned training pairs in the manner of
 * Huang et al. (ICLR 2025, "Detecting Backdoor Samples in Contrastive Language Image
 * Pretraining"): poisoned samples sit in sparser local neighbourhoods of a CLIP embedding space
 * than clean ones, so density-ratio outlier scores find them without labels. Here each training
 * pair is one point — its reference-model image and caption embeddings side by side,
 * (image ⊕ caption) / √2 — so a caption paired with a picture of another class lands between the
 * two classes' clusters. Scores (higher = more suspicious):
 *  - `kdist`: the cosine distance to the k-th nearest other pair;
 *  - `slof` (simplified LOF): a pair's k-distance over the mean k-distance of its k neighbours.
 * Neighbours come from an HNSW graph over the pairs (exact enough at these sizes). The rest —
 * γ (a value or `auto`, the quantile of a seeded clean sample), the filtered training set, the
 * report (`filter-report.json`: every pair's score, precision, recall, clean pairs lost, ROC and
 * densities) — is `defend filter`'s, so the two compare on the same training sets.
 *
 * Known limit (Huang et al. note it too): a poison repeated many times forms a dense cluster of its
 * own; once a goal's poisoned pairs outnumber k, their neighbours are each other and the scores
 * drop. Choose k above the expected count per goal, or compare with the cosine filter.
 */

export const DETECT_SCORES = ['slof', 'kdist'] as const;
export type DetectScore = (typeof DETECT_SCORES)[number];
export const DEFAULT_DETECT_K = 16;

/** The pair points: (image ⊕ caption) / √2, unit length when both halves are. */
export function pairPoints(e: PairEmbeddings): Float32Array {
  const n = e.pairImage.length;
  const d = e.dim;
  const out = new Float32Array(n * 2 * d);
  const s = Math.SQRT1_2;
  for (let i = 0; i < n; i++) {
    const a = e.pairImage[i] * d;
    const c = e.pairCaption[i] * d;
    const o = i * 2 * d;
    for (let j = 0; j < d; j++) {
      out[o + j] = e.images[a + j] * s;
      out[o + d + j] = e.captions[c + j] * s;
    }
  }
  return out;
}

/**
 * k-distance and SLOF of every point (rows of unit vectors, cosine distance). Each point's
 * neighbours exclude itself; `exact` compares every pair of points (tests and small sets).
 */
export function localDensityScores(points: Float32Array, dim: number, k: number, opts: { exact?: boolean } = {}): { kdist: Float64Array; slof: Float64Array } {
  const n = Math.floor(points.length / dim);
  if (!Number.isInteger(k) || k < 1) throw new UserError(`--k must be a positive integer, got ${k}`, 'bad_flags');
  if (n <= k) throw new UserError(`${n} pairs cannot have ${k} neighbours each; lower --k`, 'bad_flags');
  const neighbours: Int32Array[] = new Array(n);
  const kdist = new Float64Array(n);
  const row = (r: number) => points.subarray(r * dim, (r + 1) * dim);
  if (opts.exact || n <= 2000) {
    const sims = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const q = row(i);
      for (let j = 0; j < n; j++) {
        if (j === i) {
          sims[j] = -Infinity;
          continue;
        }
        sims[j] = dot(q, row(j));
      }
      const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => sims[b] - sims[a] || a - b).slice(0, k);
      neighbours[i] = Int32Array.from(order);
      kdist[i] = 1 - sims[order[k - 1]];
    }
  } else {
    const ids = Array.from({ length: n }, (_, i) => String(i));
    const graph = HnswSearch.build(points, ids, dim, { m: 16, efConstruction: 100, efSearch: Math.max(64, 2 * k) });
    for (let i = 0; i < n; i++) {
      const hits = graph.search(row(i), k + 1).filter((h) => h.row !== i).slice(0, k);
      neighbours[i] = Int32Array.from(hits.map((h) => h.row));
      kdist[i] = 1 - hits[hits.length - 1].score;
    }
  }
  const slof = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (const j of neighbours[i]) m += kdist[j];
    m /= neighbours[i].length;
    slof[i] = kdist[i] / Math.max(m, 1e-12);
  }
  return { kdist, slof };
}

export interface DetectOptions extends Omit<FilterOptions, 'gamma' | 'scorer'> {
  gamma: number | 'auto';
  score?: DetectScore;
  k?: number;
}

/** `poisonlens defend detect`: local-density scores, then `defend filter`'s threshold, training set and report. */
export function detectTrainset(ws: Workspace, o: DetectOptions): Promise<FilterResult> {
  const score = o.score ?? 'slof';
  const k = o.k ?? DEFAULT_DETECT_K;
  if (!DETECT_SCORES.includes(score)) throw new UserError(`--score must be one of ${DETECT_SCORES.join(', ')}, got ${score}`, 'bad_flags');
  return filterTrainset(ws, {
    ...o,
    scorer: {
      builder: `detect-${score}`,
      params: { detector: score, k, space: 'pair (image ⊕ caption) / √2, reference-model embeddings' },
      score: async (parent) => {
        const s = await scorePairs(ws, parent, o.reference, { quiet: o.quiet, keepEmbeddings: true });
        const e = s.embeddings!;
        const d = localDensityScores(pairPoints(e), 2 * e.dim, k);
        const chosen = score === 'slof' ? d.slof : d.kdist;
        return { similarity: s.similarity, distance: chosen, images: s.images, captions: s.captions, seconds: s.seconds };
      },
    },
  });
}
