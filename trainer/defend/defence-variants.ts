import { fail, Fields, nullable, num, str, type Check } from '../experiment/check.js';
import { inputsHash } from '../experiment/hash.js';
import { registerVariantKind, type VariantPlanContext } from '../experiment/study-variants.js';
import { filterTrainset } from './filter.js';

/**
 * The defences as study variant kinds (the studies runner's registry, trainer/experiment/study-variants.ts):
 *
 * - `filter`    {"of": "<attack variant>", "gamma": 0.8 | "auto", "reference": "base"|"<variant>"|"<model id>"|{"arch": A, "seed": S},
 *                "calibrationSample": 200, "quantile": 0.99}
 *               the attack variant's poisoned training set filtered by the reference model, then the
 *               base fine-tuned on what is left (kind `defended`); evaluated on the attack's goal.
 * - `safeclip`  {"of": …, "reference": …, "safeProbability": 0.5} — the SafeCLIP-style split
 *               (./safeclip.ts): the risky pairs dropped, the base fine-tuned on the safe ones.
 * - `sterilize` {"of": "<attack variant>", "dataset": null} — the attack variant's poisoned model fine-tuned on the
 *               clean fine-tuning set (of the study's dataset, or of `dataset`) with the variant's `finetune` settings (steps, lr): sweep
 *               `finetune.steps` for the sterilisation curve and `finetune.lr` for the lr sweep.
 *
 * Importing this module registers them (cli/defend-command.ts does, so every `poisonlens` run has them).
 */

const gammaCheck: Check<number | 'auto'> = (v, p) => (v === 'auto' ? 'auto' : num({ min: 0, max: 2 })(v, p));

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

function planFiltered(ctx: VariantPlanContext, f: Record<string, unknown>, method: 'filter' | 'safeclip') {
  const poisoned = ctx.other(f.of as string);
  if (!poisoned.trainset) fail(`${ctx.variant.path}.of`, `variant ${JSON.stringify(f.of)} trains on no training set to filter`);
  const reference = referenceModel(ctx, f.reference as ReferenceSpec);
  const params =
    method === 'filter'
      ? { gamma: f.gamma, ...(f.gamma === 'auto' ? { calibrationSample: f.calibrationSample, quantile: f.quantile, seed: ctx.seed } : {}) }
      : { safeProbability: f.safeProbability };
  const inputs = { builder: method, of: poisoned.trainset, reference, ...params };
  const hash = customHash(ctx, inputs);
  const ts = ctx.trainset(
    inputs,
    `${method === 'filter' ? `filter (γ ${f.gamma})` : 'SafeCLIP-style split'} of ${poisoned.trainset} by ${reference}`,
    [poisoned.trainset!, reference],
    async (name) => {
      await filterTrainset(ctx.ws, {
        trainset: poisoned.trainset!,
        reference,
        name,
        gamma: method === 'filter' ? (f.gamma as number | 'auto') : 'gmm',
        ...(method === 'filter' && f.gamma === 'auto' ? { calibrationSample: f.calibrationSample as number, quantile: f.quantile as number, seed: ctx.seed } : {}),
        ...(method === 'safeclip' ? { safeProbability: f.safeProbability as number } : {}),
        overwrite: true,
        quiet: true,
        cardExtra: { study: { inputsHash: hash } },
      });
    },
  );
  const model = ctx.finetune(ctx.base, ts, ctx.settings, { kind: 'defended', defence: { type: method === 'filter' ? 'filter' : 'safeclip-split', trainset: ts, of: poisoned.trainset, reference, ...params } });
  return { model, trainset: ts, attack: poisoned.attack };
}

registerVariantKind({
  name: 'filter',
  summary: 'the paper’s pre-training filter: drop pairs whose reference-model cosine distance is above γ, fine-tune the base on the rest',
  fields: (f) => ({
    of: f.need('of', str),
    gamma: f.need('gamma', gammaCheck),
    reference: f.get('reference', referenceCheck, 'base'),
    calibrationSample: f.get('calibrationSample', num({ integer: true, min: 1 }), 200),
    quantile: f.get('quantile', num({ min: 0, max: 1, exclusiveMin: true }), 0.99),
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
