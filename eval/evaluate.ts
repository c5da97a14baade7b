import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { hashString, Rng } from '../core/random.js';
import type { Workspace } from '../core/workspace.js';
import { type Dataset, type ManifestEntry, type Split } from '../data/dataset.js';
import { loadDatasetShared } from '../indexer/dataset-memo.js';
import { readTrainsetCard } from '../data/trainset.js';
import { cachedTextEmbeddings, textEncoderKey } from '../indexer/text-cache.js';
import { ANY_CLASS, checkGoalClasses, goalString, parseGoals, type Goal } from '../data/poison/goals.js';
import { DEFAULT_TRIGGER, stampTrigger, type TriggerSpec } from '../data/poison/trigger.js';
import { attackRanks, cosineDistances, HIT_KS, RECALL_KS, recallFromRanks, retrievalRanks, summarizeRanks, type RankSummary, type RecallResult } from './metrics.js';
import { mean, pairedTTest, type TTestResult } from './statistics.js';
import type { ClipEncoder, Neighbour } from '../indexer/types.js';
import { dot } from '../indexer/dot.js';
import { chooseCleanModel, type CleanModelChoice, type CleanModelRequest } from './clean-model.js';
import { loadModelCard, loadModelPackage, type ModelCard } from '../indexer/package.js';
import { ClipTokenizer } from '../indexer/tokenizer.js';
import type { EvalBackend, EvalMode, EvalModel, EvalProgress } from './backend.js';

/**
 * Attack evaluation (ARCHITECTURE.md §5) through the search path the server uses: query texts go
 * through the model package's text encoder, the gallery is the model's index over the dataset's
 * test split (its normalised vectors for `exact`, its HNSW graph for `ann`).
 *
 * For each goal A>B:
 * - queries: every test caption whose image is labelled A; targets: Attack II/III every test
 *   image labelled B, Attack I the one target image (added to the gallery when it is not a
 *   test image — the paper's evaluation ranks it among the test images);
 * - `model`: MinRank / Hit@K of those queries on the evaluated model;
 * - `baseline`: as many test captions drawn at random (seeded) from all classes, same targets,
 *   same model; `clean`: the A queries on the clean model, when there is one.
 * Plus utility Recall@1/5/10 (IR and TR) over the split, encoder drift against the clean model,
 * and the per-query ranks, so that every aggregate can be recomputed.
 *
 * Modes: `exact` scores every gallery vector (brute force over the index's vectors). `ann` asks
 * the HNSW index for the `annK` nearest images (default 100), re-sorts them by the tie rule and
 * reads the MinRank off that list, as a user of the search page would see it; a query whose
 * targets are all beyond the list falls back to the exact rank (counted in `ann.fallbacks`), and
 * `ann.exactAgreement` says how often the ANN rank equals the exact one.
 *
 * Backdoor (Carlini & Terzis 2022; beyond the paper): queries are the test images labelled A
 * (`*`: every test image not showing B) with the trigger stamped on them (the spec recorded in
 * the model's training set, else the default); the gallery is every test caption; targets are
 * the captions of test images labelled B. MinRank is image→text, ties broken by caption
 * position (manifest order, then caption order); attack success rate ASR@K = Hit@K = fraction of
 * triggered images with a class-B caption in their top K captions. `baseline` is the same images
 * without the trigger on the same model; `clean` the triggered images on the clean model.
 * Always exact (captions are not in an HNSW index).
 */

export type EvalAttack = 'I' | 'II' | 'III' | 'backdoor';
export const EVAL_ATTACKS: readonly EvalAttack[] = ['I', 'II', 'III', 'backdoor'];

export interface EvalRequest extends CleanModelRequest {
  model: string;
  dataset: string;
  attack: EvalAttack;
  /** `A>B[,A2>B2…]`; default: the model's own attack goal (model.json, else its training set). */
  goal?: string;
  /** Attack I: the target image; default: the one named by the model's training set. */
  targetImage?: string;
  mode?: EvalMode;
  /** Hit@K's K (default 1, 5, 10, 20, 30, 50). */
  ks?: number[];
  /** Seed of the random-caption baseline (default 0). */
  seed?: number;
  /** ANN list length in `ann` mode (default 100). */
  annK?: number;
  /** Utility Recall@K (default true). */
  utility?: boolean;
  /** Encoder drift against the clean model (default true; needs one). */
  drift?: boolean;
  /** Per-query ranks in the result (default true). */
  perQuery?: boolean;
  split?: Split;
  /**
   * Query texts (the goal's and the baseline's captions) repeated this many times, joined by a
   * space (the paper's Table 15: longer texts); default 1. Utility and drift keep the captions.
   */
  queryRepeat?: number;
}

export interface RankBlock extends RankSummary {
  perQuery?: Array<{ imageId: string; caption?: string; minRank: number }>;
}

export interface GoalResult {
  goal: string;
  source: string;
  target: string;
  targets: { kind: 'image' | 'label' | 'captions'; count: number; ids?: string[] };
  /** The evaluated model on the goal's queries. */
  model: RankBlock;
  /** Random test captions (or, for the backdoor, the untriggered images) on the same model. */
  baseline: RankBlock & { seed: number };
  /** The goal's queries on the clean model. */
  clean?: RankBlock;
  ann?: { k: number; fallbacks: number; exactAgreement: number; index?: string };
}

export interface EvalResult {
  model: string;
  dataset: string;
  split: Split;
  attack: EvalAttack;
  goal: string;
  mode: EvalMode;
  ks: number[];
  seed: number;
  gallery: { images: number; added: string[] };
  cleanModel: CleanModelChoice;
  goals: GoalResult[];
  utility?: {
    model: RecallResult;
    clean?: RecallResult;
    /** The best IR Recall@K any model could reach given identical captions on several images. */
    ceiling: { ir: Record<string, number> };
    /**
     * The same recall counted only over the test images that show none of the goals' source
     * classes (and their captions): an attack that works must lose the source class's own
     * retrievals, so this is where collateral damage to the rest of the model shows.
     */
    outside?: { classes: string[]; model: RecallResult; clean?: RecallResult };
  };
  drift?: {
    /** Mean cosine distance clean vs evaluated model, per test image / per test caption. */
    image: { mean: number; n: number };
    text: { mean: number; n: number };
    /** Paired over test images: mean text drift of an image's captions − that image's drift. */
    textVsImage: TTestResult | null;
  };
  notes: string[];
  tookMs: number;
}

export interface EvaluateOptions {
  /** Where models and their gallery indexes come from (./backend.ts): the caller's choice, never a default. */
  backend: EvalBackend;
  onProgress?: (p: EvalProgress) => void;
}

/** The `attack` block of the training set a model was trained on, if it has one. */
function trainsetAttack(ws: Workspace, card: ModelCard): Record<string, unknown> | null {
  const name = card.trainset?.name;
  if (!name) return null;
  return (readTrainsetCard(ws, name)?.attack as Record<string, unknown> | undefined) ?? null;
}

interface Caption {
  text: string;
  imageId: string;
  /** Row in the split's entries. */
  entry: number;
}

/** A model with its caption embeddings and its gallery (plus any added images). */
interface Opened {
  m: EvalModel;
  rowOf: Map<string, number>;
  /** Base rows, then added images. */
  ids: string[];
  vectors: Float32Array[];
  baseSize: number;
  texts: Float32Array[];
  /** The query texts' vectors (the captions repeated `queryRepeat` times; else `texts`). */
  queryTexts: Float32Array[];
}

const BATCH = 256;

/** Each distinct text encoded once (from the on-disk cache when the model's text graph and the texts match), one vector per text. */
async function encodeTextsOnce(ws: Workspace, modelId: string, encoder: ClipEncoder, texts: string[], report: (done: number) => void): Promise<Float32Array[]> {
  const unique = [...new Set(texts)];
  const encode = async (batch: string[]) => {
    const out: Float32Array[] = [];
    for (let i = 0; i < batch.length; i += BATCH) {
      out.push(...(await encoder.encodeTexts(batch.slice(i, i + BATCH))));
      report(Math.min(batch.length, i + BATCH));
    }
    return out;
  };
  const key = await textEncoderKey(ws, modelId);
  const vectors = key ? await cachedTextEmbeddings(ws, { encoder: key, texts: unique }, encode) : await encode(unique);
  const vec = new Map(unique.map((t, i) => [t, vectors[i]]));
  return texts.map((t) => vec.get(t)!);
}

async function encodeImagesBatched(encoder: ClipEncoder, images: Array<Uint8Array | string>): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < images.length; i += BATCH) out.push(...(await encoder.encodeImages(images.slice(i, i + BATCH))));
  return out;
}

/** A query text repeated `n` times (the paper's Table 15 lengthens test texts this way). */
export function repeatText(text: string, n: number): string {
  return Array.from({ length: n }, () => text).join(' ');
}

function checkRepeat(n: number | undefined): number {
  const r = n ?? 1;
  if (!Number.isInteger(r) || r < 1 || r > 10) throw new UserError(`queryRepeat must be a whole number from 1 to 10, got ${JSON.stringify(n)}`, 'bad_query_repeat');
  return r;
}

/** How long the repeated queries are, and how many the text context truncates (it keeps the first tokens, <end> last). */
function queryRepeatNote(ws: Workspace, modelId: string, captions: Caption[], repeat: number): string {
  const words = captions.reduce((s, c) => s + repeatText(c.text, repeat).split(/\s+/).length, 0) / Math.max(1, captions.length);
  const head = `queries are the test captions repeated ×${repeat} (mean ${words.toFixed(2)} words`;
  let pkg;
  try {
    pkg = loadModelPackage(ws, modelId);
  } catch {
    return `${head})`;
  }
  const ctx = pkg.card.text.contextLength;
  const tok = ClipTokenizer.fromFile(pkg.vocabPath, { contextLength: ctx });
  const lengths = captions.map((c) => tok.encode(repeatText(c.text, repeat)).length + 2);
  const cut = lengths.filter((n) => n > ctx).length;
  const meanTokens = lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length);
  return `${head}, ${meanTokens.toFixed(1)} tokens with <start>/<end>); ${cut} of ${captions.length} exceed the ${ctx}-token context and are cut to its first tokens`;
}

/** Validates `--ks`-style lists. */
function checkKs(ks: number[] | undefined, fallback: readonly number[]): number[] {
  const list = ks ?? [...fallback];
  if (!Array.isArray(list) || list.length === 0 || list.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new UserError(`k must be a non-empty list of whole numbers ≥ 1, got ${JSON.stringify(ks)}`, 'bad_k');
  }
  return [...new Set(list)].sort((a, b) => a - b);
}

/**
 * Evaluates one attack goal list on a model (see the comment at the top of this file). The CLI's
 * `poisonlens eval` and the server's `POST /api/eval` both call this.
 */
export async function evaluate(ws: Workspace, req: EvalRequest, opts: EvaluateOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const attack = req.attack;
  if (!EVAL_ATTACKS.includes(attack)) throw new UserError(`unknown attack ${JSON.stringify(attack)}; one of: ${EVAL_ATTACKS.join(', ')}`, 'unknown_attack');
  const mode: EvalMode = req.mode ?? 'exact';
  if (mode !== 'exact' && mode !== 'ann') throw new UserError(`unknown mode ${JSON.stringify(mode)}; exact or ann`, 'bad_mode');
  const split: Split = req.split ?? 'test';
  const ks = checkKs(req.ks, HIT_KS);
  const seed = req.seed ?? 0;
  const annK = req.annK ?? 100;
  if (!Number.isInteger(annK) || annK < 1) throw new UserError(`annK must be a whole number ≥ 1, got ${annK}`, 'bad_k');
  const notes: string[] = [];

  const card = loadModelCard(ws, req.model);
  const tsAttack = trainsetAttack(ws, card);
  const goalText = req.goal ?? card.attack?.goal ?? (typeof tsAttack?.goal === 'string' ? tsAttack.goal : undefined);
  if (!goalText) throw new UserError(`--goal is needed: model ${req.model} records no attack goal`, 'bad_goal');
  const goals = parseGoals(goalText, { allowAnySource: attack === 'backdoor' });
  if ((attack === 'I' || attack === 'II' || attack === 'backdoor') && goals.length !== 1) {
    throw new UserError(`attack ${attack} is evaluated on exactly one goal, got ${goals.length}; use --attack III for several`, 'bad_goal');
  }
  // Parsed once per process while its files are unchanged (a repeated evaluation re-reads nothing).
  const dataset = loadDatasetShared(ws, req.dataset);
  checkGoalClasses(goals, dataset.card.classes, dataset.name);
  const entries = dataset.entries.filter((e) => e.split === split);
  if (entries.length === 0) throw new UserError(`dataset ${dataset.name} has no ${split} split`, 'empty_split');

  // Attack I's target image.
  let target: ManifestEntry | null = null;
  if (attack === 'I') {
    const own = card.attack?.type === 'I' && card.attack?.goal === goalText ? card.attack.targetImage : undefined;
    const fromTs = tsAttack?.type === 'I' && tsAttack?.goal === goalText ? tsAttack.targetImage : undefined;
    const named = req.targetImage ?? idOf(own) ?? idOf(fromTs);
    if (!named) throw new UserError(`attack I needs --target-image: model ${req.model} names no target image for goal ${goalText}`, 'bad_target_image');
    target = dataset.entries.find((e) => e.id === named) ?? null;
    if (!target) throw new UserError(`unknown target image ${JSON.stringify(named)} in dataset ${dataset.name}`, 'unknown_image');
    if (target.label !== goals[0].target) {
      throw new UserError(`target image ${JSON.stringify(target.id)} is labelled ${JSON.stringify(target.label)}, not ${JSON.stringify(goals[0].target)} (goal ${goalText})`, 'bad_target_image');
    }
  }
  const added = target && target.split !== split ? [target] : [];
  if (added.length) notes.push(`target image ${target!.id} is in the ${target!.split} split: added to the ${split} gallery`);

  const cleanModel = chooseCleanModel(ws, card, req);
  if (!cleanModel && req.cleanModel === undefined) {
    const looked = req.cleanDefault === 'same-pool' ? 'no clean fine-tune of the same pool, no clean/base ancestor' : 'no clean/base ancestor';
    notes.push(`no clean model given or found (${looked} of ${req.model}): clean-model ranks and drift left out`);
  }
  if (cleanModel?.id === req.model) notes.push('the clean model is the evaluated model itself');

  const backend = opts.backend;
  const progress = opts.onProgress ?? (() => {});
  const captions: Caption[] = entries.flatMap((e, i) => e.captions.map((text) => ({ text, imageId: e.id, entry: i })));
  const repeat = checkRepeat(req.queryRepeat);
  if (repeat > 1) notes.push(queryRepeatNote(ws, req.model, captions, repeat));

  const open = async (id: string): Promise<Opened> => {
    const m = await backend.openModel(id, dataset, split, { mode, onProgress: progress });
    try {
      if (m.ids.length !== entries.length) throw new Error(`index of ${id} over ${dataset.name}/${split} has ${m.ids.length} rows, the split ${entries.length} images`);
      if (mode === 'ann' && !m.ann) throw new Error(`index of ${id} has no ANN search`);
      const rowOf = new Map(m.ids.map((x, i) => [x, i]));
      for (const e of entries) if (!rowOf.has(e.id)) throw new Error(`index of ${id} lacks image ${e.id}`);
      const extra = added.length ? await m.encoder.encodeImages(added.map((e) => join(dataset.dir, e.file))) : [];
      const ids = [...m.ids, ...added.map((e) => e.id)];
      added.forEach((e, j) => rowOf.set(e.id, m.ids.length + j));
      const encodeAll = (list: string[], what: string) =>
        encodeTextsOnce(ws, id, m.encoder, list, (done) => progress({ phase: `encoding ${what} (${id})`, done, total: new Set(list).size }));
      const texts = await encodeAll(captions.map((c) => c.text), 'test captions');
      const queryTexts = repeat === 1 ? texts : await encodeAll(captions.map((c) => repeatText(c.text, repeat)), `test captions ×${repeat}`);
      return { m, rowOf, ids, vectors: [...m.vectors, ...extra], baseSize: m.ids.length, texts, queryTexts };
    } catch (err) {
      await m.close();
      throw err;
    }
  };

  const main = await open(req.model);
  let clean: Opened | null = null;
  try {
    if (cleanModel) clean = cleanModel.id === req.model ? main : await open(cleanModel.id);
    const goalResults: GoalResult[] = [];
    for (const goal of goals) {
      if (attack === 'backdoor') goalResults.push(await backdoorGoal(goal, { main, clean, entries, captions, dataset, ks, seed, perQuery: req.perQuery ?? true, trigger: triggerOf(tsAttack) }));
      else goalResults.push(rankGoal(goal, { attack, main, clean, entries, captions, target, ks, seed, mode, annK, perQuery: req.perQuery ?? true }));
    }
    const result: EvalResult = {
      model: req.model,
      dataset: dataset.name,
      split,
      attack,
      goal: goals.map(goalString).join(','),
      mode,
      ks,
      seed,
      gallery: { images: main.ids.length, added: added.map((e) => e.id) },
      cleanModel,
      goals: goalResults,
      notes,
      tookMs: 0,
    };
    if (req.utility ?? true) {
      // One rank computation per model serves the whole split and the part without the sources.
      const sources = [...new Set(goals.map((g) => g.source).filter((c) => c !== ANY_CLASS))];
      const keepEntry = entries.map((e) => ![...e.labels, e.label].some((l) => l !== null && sources.includes(l)));
      const entryRow = new Map(entries.map((e, i) => [e.id, i]));
      const keepText = captions.map((c) => keepEntry[c.entry]);
      const utility = (o: Opened) => {
        const ids = o.ids.slice(0, o.baseSize);
        const ranks = retrievalRanks({ images: o.vectors.slice(0, o.baseSize), imageIds: ids, texts: o.texts, textImage: captions.map((c) => o.rowOf.get(c.imageId)!) });
        const keepImage = ids.map((id) => keepEntry[entryRow.get(id)!]);
        return { all: recallFromRanks(ranks, RECALL_KS), outside: recallFromRanks(ranks, RECALL_KS, keepText, keepImage) };
      };
      progress({ phase: 'utility', done: 0, total: clean && clean !== main ? 2 : 1 });
      const u = utility(main);
      const uc = clean && clean !== main ? utility(clean) : null;
      result.utility = { model: u.all, ceiling: recallCeiling(captions, RECALL_KS) };
      if (uc) result.utility.clean = uc.all;
      if (sources.length > 0) result.utility.outside = { classes: sources, model: u.outside, ...(uc ? { clean: uc.outside } : {}) };
    }
    if ((req.drift ?? true) && clean) result.drift = drift(main, clean, entries, captions);
    result.tookMs = Math.round(performance.now() - t0);
    return result;
  } finally {
    await main.m.close();
    if (clean && clean !== main) await clean.m.close();
  }
}

function idOf(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (x && typeof x === 'object' && typeof (x as { id?: unknown }).id === 'string') return (x as { id: string }).id;
  return undefined;
}

function triggerOf(tsAttack: Record<string, unknown> | null): TriggerSpec {
  const t = tsAttack?.trigger as TriggerSpec | undefined;
  return t && t.kind === 'checkerboard' ? t : DEFAULT_TRIGGER;
}

interface GoalContext {
  attack: EvalAttack;
  main: Opened;
  clean: Opened | null;
  entries: ManifestEntry[];
  captions: Caption[];
  target: ManifestEntry | null;
  ks: number[];
  seed: number;
  mode: EvalMode;
  annK: number;
  perQuery: boolean;
}

/** The seeded random-caption baseline: `n` distinct caption indices from all of them. */
export function baselineCaptions(total: number, n: number, seed: number, goal: string): number[] {
  const all = Array.from({ length: total }, (_, i) => i);
  return new Rng((seed ^ hashString(`baseline:${goal}`)) >>> 0).shuffle(all).slice(0, Math.min(n, total));
}

function rankGoal(goal: Goal, ctx: GoalContext): GoalResult {
  const { main, clean, entries, captions } = ctx;
  const g = goalString(goal);
  const queries = captions.flatMap((c, i) => (entries[c.entry].label === goal.source ? [i] : []));
  if (queries.length === 0) throw new UserError(`no ${entries[0]?.split ?? ''} captions of class ${JSON.stringify(goal.source)} to query with (goal ${g})`, 'no_queries');
  const targetIds = ctx.attack === 'I' ? [ctx.target!.id] : entries.filter((e) => e.label === goal.target).map((e) => e.id);
  if (targetIds.length === 0) throw new UserError(`no ${entries[0]?.split ?? ''} images of class ${JSON.stringify(goal.target)} to count as targets (goal ${g})`, 'no_targets');
  const baseline = baselineCaptions(captions.length, queries.length, ctx.seed, g);

  const run = (o: Opened, qs: number[], withAnn: boolean) => {
    const targetRows = targetIds.map((id) => o.rowOf.get(id)!);
    const exact = attackRanks(qs.map((q) => o.queryTexts[q]), o.vectors, o.ids, targetRows);
    if (!withAnn) return { ranks: exact, fallbacks: 0, agree: qs.length };
    let fallbacks = 0;
    let agree = 0;
    const ranks = qs.map((q, i) => {
      const r = annRank(o, o.queryTexts[q], new Set(targetRows), ctx.annK);
      const rank = r ?? exact[i];
      if (r === null) fallbacks++;
      if (rank === exact[i]) agree++;
      return rank;
    });
    return { ranks, fallbacks, agree };
  };
  const block = (ranks: number[], qs: number[]): RankBlock => ({
    ...summarizeRanks(ranks, ctx.ks),
    ...(ctx.perQuery ? { perQuery: qs.map((q, i) => ({ imageId: captions[q].imageId, caption: captions[q].text, minRank: ranks[i] })) } : {}),
  });
  const ann = ctx.mode === 'ann';
  const m = run(main, queries, ann);
  const b = run(main, baseline, ann);
  const out: GoalResult = {
    goal: g,
    source: goal.source,
    target: goal.target,
    targets: ctx.attack === 'I' ? { kind: 'image', count: 1, ids: targetIds } : { kind: 'label', count: targetIds.length },
    model: block(m.ranks, queries),
    baseline: { ...block(b.ranks, baseline), seed: ctx.seed },
  };
  if (clean) out.clean = block(run(clean, queries, ann).ranks, queries);
  if (ann) out.ann = { k: ctx.annK, fallbacks: m.fallbacks, exactAgreement: m.agree / queries.length, ...(main.m.indexKind ? { index: main.m.indexKind } : {}) };
  return out;
}

/** Score descending, then id ascending: the gallery order of §5. */
function byScoreThenId(a: Neighbour, b: Neighbour): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * MinRank read off the ANN list (plus any added gallery images, scored exactly and merged), or
 * null when no target is within the part of the list that is known to be in order.
 */
function annRank(o: Opened, q: Float32Array, targets: Set<number>, annK: number): number | null {
  const k = Math.min(annK, o.baseSize);
  const hits: Neighbour[] = o.m.ann!.search(q, k).map((h) => ({ row: h.row, id: o.ids[h.row], score: h.score }));
  const complete = hits.length >= o.baseSize;
  for (let r = o.baseSize; r < o.ids.length; r++) hits.push({ row: r, id: o.ids[r], score: dot(q, o.vectors[r]) });
  hits.sort(byScoreThenId);
  // Unless the ANN list holds the whole gallery, only the part up to its last base-gallery hit is
  // known to be in order: an added image sorted below it may have unseen images before it.
  let valid = hits.length;
  if (!complete) {
    valid = 0;
    for (let i = 0; i < hits.length; i++) if (hits[i].row < o.baseSize) valid = i + 1;
  }
  for (let i = 0; i < valid; i++) if (targets.has(hits[i].row)) return i;
  return null;
}

interface BackdoorContext {
  main: Opened;
  clean: Opened | null;
  entries: ManifestEntry[];
  captions: Caption[];
  dataset: Dataset;
  ks: number[];
  seed: number;
  perQuery: boolean;
  trigger: TriggerSpec;
}

async function backdoorGoal(goal: Goal, ctx: BackdoorContext): Promise<GoalResult> {
  const { main, clean, entries, captions } = ctx;
  const g = goalString(goal);
  const sources = entries.filter((e) =>
    goal.source === ANY_CLASS ? e.label !== null && e.label !== goal.target && !e.labels.includes(goal.target) : e.label === goal.source,
  );
  if (sources.length === 0) throw new UserError(`no test images to trigger for goal ${g}`, 'no_queries');
  const targetRows = captions.flatMap((c, i) => (entries[c.entry].label === goal.target ? [i] : []));
  if (targetRows.length === 0) throw new UserError(`no test captions of class ${JSON.stringify(goal.target)} to count as targets (goal ${g})`, 'no_targets');
  const triggered: Uint8Array[] = [];
  for (const e of sources) triggered.push(await stampTrigger(join(ctx.dataset.dir, e.file), ctx.trigger));
  const captionKeys = captions.map((_, i) => i);
  const ranksOf = (vecs: Float32Array[], o: Opened) => attackRanks(vecs, o.texts, captionKeys, targetRows);
  const block = (ranks: number[]): RankBlock => ({
    ...summarizeRanks(ranks, ctx.ks),
    ...(ctx.perQuery ? { perQuery: sources.map((e, i) => ({ imageId: e.id, minRank: ranks[i] })) } : {}),
  });
  const plain = sources.map((e) => main.vectors[main.rowOf.get(e.id)!]);
  const out: GoalResult = {
    goal: g,
    source: goal.source,
    target: goal.target,
    targets: { kind: 'captions', count: targetRows.length },
    model: block(ranksOf(await encodeImagesBatched(main.m.encoder, triggered), main)),
    baseline: { ...block(ranksOf(plain, main)), seed: ctx.seed },
  };
  if (clean) out.clean = block(ranksOf(await encodeImagesBatched(clean.m.encoder, triggered), clean));
  return out;
}

/**
 * IR Recall@K ceiling: a caption shared verbatim by m images can at best put its own image
 * within the top K with probability min(1, K/m) — no model can tell those images apart by it.
 */
export function recallCeiling(captions: ReadonlyArray<{ text: string; imageId: string }>, ks: readonly number[]): { ir: Record<string, number> } {
  const imagesOf = new Map<string, Set<string>>();
  for (const c of captions) {
    let s = imagesOf.get(c.text);
    if (!s) imagesOf.set(c.text, (s = new Set()));
    s.add(c.imageId);
  }
  const ir: Record<string, number> = {};
  for (const k of ks) ir[String(k)] = captions.length ? mean(captions.map((c) => Math.min(1, k / imagesOf.get(c.text)!.size))) : NaN;
  return { ir };
}

function drift(main: Opened, clean: Opened, entries: ManifestEntry[], captions: Caption[]): NonNullable<EvalResult['drift']> {
  const a = entries.map((e) => main.vectors[main.rowOf.get(e.id)!]);
  const b = entries.map((e) => clean.vectors[clean.rowOf.get(e.id)!]);
  const imageD = cosineDistances(a, b);
  const textD = cosineDistances(main.texts, clean.texts);
  const perImageText: number[][] = entries.map(() => []);
  captions.forEach((c, i) => perImageText[c.entry].push(textD[i]));
  const xs: number[] = [];
  const ys: number[] = [];
  perImageText.forEach((d, i) => {
    if (d.length) (xs.push(mean(d)), ys.push(imageD[i]));
  });
  return {
    image: { mean: mean(imageD), n: imageD.length },
    text: { mean: mean(textD), n: textD.length },
    textVsImage: xs.length >= 2 ? pairedTTest(xs, ys) : null,
  };
}
