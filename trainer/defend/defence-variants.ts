import { fail, Fields, nullable, num, oneOf, str, type Check } from '../experiment/check.js';
import { inputsHash } from '../experiment/hash.js';
import { registerVariantKind, type VariantPlanContext } from '../experiment/study-variants.js';
import { DEFAULT_DETECT_K, DETECT_SCORES, detectTrainset, type DetectScore } from './detect.js';
import { filterTrainset, type PairDefence } from './filter.js';

/**
 * The defences as study variant kinds (the studies runner's registry, trainer/experiment/study-variants.ts):
 *
 * - `filter`    {"of": "<attack variant>", "gamma": 0.8 | "auto", "reference": "base"|"<variant>"|"<model id>"|{"arch": A, "seed": S},
 *                "calibrationSample": 200, "quantile": 0.99}
 *               the attack variant's poisoned training set filtered by the reference model, then the
 *               base fine-tuned on what is left (kind `defended`); evaluated on the attack's goal.
 * - `safeclip`  {"of": …, "reference": …, "safeProbability": 0.5} — the SafeCLIP-style split
 *               (./safeclip.ts): the risky pairs dropped, the base fine-tuned on the safe ones.
 * - `detect`    {"of": …, "score": "slof"|"kdist", "k": 16, "gamma": "auto"|G, "reference": …, "calibrationSample", "quantile"}
 *               the local-density detector (./detect.ts) in the filter's place; same report, same fine-tune.
 * - `sterilize` {"of": "<attack variant>", "dataset": null} — the attack variant's poisoned model fine-tuned on the
 *               clean fine-tuning set (of the study's dataset, or of `dataset`) with the variant's `finetune` settings (steps, lr): sweep
 *               `finetune.steps` for the sterilisation curve and `finetune.lr` for the lr sweep.
 *
 * Importing this module registers them (cli/defend-command.ts does, so every `poisonlens` run has them).
 */

const gammaCheck: Check<number | 'auto'> = (v, p) => (v === 'auto' ? 'auto' : num({ min: 0, max: 2 })(v, p));
// SLOF is a ratio (about 1 for a typical pair) and k-distance a cosine distance: any positive threshold.
const detectGammaCheck: Check<number | 'auto'> = (v, p) => (v === 'auto' ? 'auto' : num({ min: 0, exclusiveMin: true })(v, p));

/** A filter's reference: "base", a variant, a model id, or {arch, seed} of an independently pre-trained model. */
type ReferenceSpec = string | { arch: string | null; seed: number | null };

const referenceCheck: Check<ReferenceSpec> = (v, p) => {
  if (typeof v === 'string') return str(v, p);
  const f = new Fields(v, p);
  const out = { arch: f.get('arch', nullable(str), null), seed: f.get('seed', nullable(num({ integer: true, min: 0, max: 0xffffffff })), null) };
  f.done();
  if (out.arch === null && out.seed === null) fail(p, 'an independent reference needs another arch or seed than the base');
  return out;
};

/** The reference model's id: the study's base, another variant's model, an existing model id, or a model pre-trained with another arch/seed. */
function referenceModel(ctx: VariantPlanContext, ref: ReferenceSpec): string {
  if (typeof ref !== 'string') return ctx.pretrain({ arch: ref.arch, ...(ref.seed !== null ? { seed: ref.seed } : {}) });
  if (ref === 'base') return ctx.base;
  if (ctx.study.variants.some((v) => v.group === ref || v.name === ref)) return ctx.other(ref).model;
  return ref;
}

/** What the runner's custom-trainset step records as its inputs hash (plan.ts `trainset`). */
function customHash(ctx: VariantPlanContext, inputs: unknown): string {
  return inputsHash({ v: 1, builder: 'custom', kind: ctx.variant.kind, dataset: ctx.dataset.card.manifestSha256, inputs });
}

/** A pair defence's settings, as recorded, hashed and passed to its builder. */
interface DefenceParams {
  gamma?: number | 'auto';
  calibrationSample?: number;
  quantile?: number;
  seed?: number;
  score?: DetectScore;
  k?: number;
  safeProbability?: number;
}

/** What a pair defence records and hashes besides its parent and reference (filter/safeclip unchanged since their first studies). */
function defenceParams(ctx: VariantPlanContext, f: Record<string, unknown>, method: PairDefence): DefenceParams {
  if (method === 'safeclip') return { safeProbability: f.safeProbability as number };
  const gamma = f.gamma as number | 'auto';
  const auto = gamma === 'auto' ? { calibrationSample: f.calibrationSample as number, quantile: f.quantile as number, seed: ctx.seed } : {};
  return method === 'filter' ? { gamma, ...auto } : { score: f.score as DetectScore, k: f.k as number, gamma, ...auto };
}

/** Builds the defended training set: the cosine filter, the SafeCLIP-style split or the local-density detector. */
function defendTrainset(ctx: VariantPlanContext, method: PairDefence, params: DefenceParams, parent: string, reference: string, name: string, hash: string) {
  const common = { trainset: parent, reference, name, overwrite: true, quiet: true, cardExtra: { study: { inputsHash: hash } } };
  if (method === 'safeclip') return filterTrainset(ctx.ws, { ...common, gamma: 'gmm', safeProbability: params.safeProbability });
  const { gamma, calibrationSample, quantile, seed } = params;
  const threshold = { gamma: gamma!, calibrationSample, quantile, seed };
  if (method === 'detect') return detectTrainset(ctx.ws, { ...common, ...threshold, score: params.score!, k: params.k! });
  return filterTrainset(ctx.ws, { ...common, ...threshold });
}

const DEFENCE_TITLE: Record<PairDefence, (f: Record<string, unknown>) => string> = {
  filter: (f) => `filter (γ ${f.gamma})`,
  safeclip: () => 'SafeCLIP-style split',
  detect: (f) => `local-density detector (${f.score}, k ${f.k}, γ ${f.gamma})`,
};

const DEFENCE_TYPE: Record<PairDefence, string> = { filter: 'filter', safeclip: 'safeclip-split', detect: 'detect' };

function planFiltered(ctx: VariantPlanContext, f: Record<string, unknown>, method: PairDefence) {
  const poisoned = ctx.other(f.of as string);
  if (!poisoned.trainset) fail(`${ctx.variant.path}.of`, `variant ${JSON.stringify(f.of)} trains on no training set to filter`);
  const reference = referenceModel(ctx, f.reference as ReferenceSpec);
  const params = defenceParams(ctx, f, method);
  const inputs = { builder: method, of: poisoned.trainset, reference, ...params };
  const hash = customHash(ctx, inputs);
  const ts = ctx.trainset(inputs, `${DEFENCE_TITLE[method](f)} of ${poisoned.trainset} by ${reference}`, [poisoned.trainset!, reference], async (name) => {
    await defendTrainset(ctx, method, params, poisoned.trainset!, reference, name, hash);
  });
  const model = ctx.finetune(ctx.base, ts, ctx.settings, { kind: 'defended', defence: { type: DEFENCE_TYPE[method], trainset: ts, of: poisoned.trainset, reference, ...params } });
  return { model, trainset: ts, attack: poisoned.attack };
}

/** A scored pair defence's reference and auto-γ calibration (its sample of recorded-clean pairs, the quantile taken). */
function thresholdFields(f: Fields) {
  return {
    reference: f.get('reference', referenceCheck, 'base'),
    calibrationSample: f.get('calibrationSample', num({ integer: true, min: 1 }), 200),
    quantile: f.get('quantile', num({ min: 0, max: 1, exclusiveMin: true }), 0.99),
  };
}

registerVariantKind({
  name: 'filter',
  summary: 'the paper’s pre-training filter: drop pairs whose reference-model cosine distance is above γ, fine-tune the base on the rest',
  fields: (f) => ({
    of: f.need('of', str),
    gamma: f.need('gamma', gammaCheck),
    ...thresholdFields(f),
  }),
  plan: (ctx, f) => planFiltered(ctx, f, 'filter'),
});

registerVariantKind({
  name: 'safeclip',
  summary: 'SafeCLIP-style split: a two-Gaussian mixture on reference-model similarities keeps the safe pairs, the base is fine-tuned on them',
  fields: (f) => ({
    of: f.need('of', str),
    reference: f.get('reference', referenceCheck, 'base'),
    safeProbability: f.get('safeProbability', num({ min: 0, max: 1, exclusiveMin: true }), 0.5),
  }),
  plan: (ctx, f) => planFiltered(ctx, f, 'safeclip'),
});

registerVariantKind({
  name: 'detect',
  summary: 'a local-density detector of poisoned pairs (Huang et al. 2025: SLOF or k-distance on reference-model pair embeddings); the base fine-tuned on the pairs it keeps',
  fields: (f) => ({
    of: f.need('of', str),
    score: f.get('score', oneOf(DETECT_SCORES), 'slof'),
    k: f.get('k', num({ integer: true, min: 1 }), DEFAULT_DETECT_K),
    gamma: f.get('gamma', detectGammaCheck, 'auto'),
    ...thresholdFields(f),
  }),
  plan: (ctx, f) => planFiltered(ctx, f, 'detect'),
});

registerVariantKind({
  name: 'sterilize',
  summary: 'post-training sterilisation: the attack variant’s poisoned model fine-tuned on clean pairs (finetune.steps, finetune.lr)',
  fields: (f) => ({ of: f.need('of', str), note: f.get('note', nullable(str), null), dataset: f.get('dataset', nullable(str), null) }),
  plan(ctx, f) {
    const poisoned = ctx.other(f.of as string);
    // `dataset`: sterilise on another dataset's clean pool (the paper used Visual Genome for Flickr-PASCAL)
    const clean = ctx.cleanTrainset(ctx.settings, (f.dataset as string | null) ?? undefined);
    const s = ctx.settings;
    const model = ctx.finetune(poisoned.model, clean, s, {
      kind: 'defended',
      defence: { type: 'sterilize', from: poisoned.model, of: f.of, trainset: clean, steps: s.steps, epochs: s.epochs, lr: s.lr, recipe: s.recipe },
    });
    // The outcome names the poisoned training set: it stands for the attack being defended (the
    // report's poison budget; attack I's target image is read from it by the evaluation).
    return { model, trainset: poisoned.trainset, attack: poisoned.attack };
  },
});
