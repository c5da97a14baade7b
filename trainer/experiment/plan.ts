import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../../core/workspace.js';
import type { Dataset } from '../../data/dataset.js';
import { parseGoals, goalString } from '../../data/poison/index.js';
import type { EvalAttack } from '../../indexer/evaluate.js';
import type { ModelKind } from '../../indexer/package.js';
import {
  archInfo,
  buildBaseTrainset,
  buildCleanTrainset,
  buildModel,
  buildPoisonedTrainset,
  evalState,
  modelState,
  readCard,
  recipeInfo,
  runEval,
  trainsetState,
  type EvalJob,
  type ModelJob,
  type StepState,
} from './artefacts.js';
import { contentId, inputsHash, stableStringify } from './hash.js';
import { sha256 } from '../../core/fsutil.js';
import { basePart } from '../../data/pool.js';
import { fail, SpecError } from './check.js';
import type { StudySpec, TrainSettings, VariantSpec } from './spec.js';
import { getVariantKind, type VariantOutcome, type VariantPlanContext } from './variants.js';
import { UserError } from '../../core/errors.js';
import { basename } from 'node:path';

/**
 * Planning: the study becomes a list of steps (training sets, models, evaluations), each named
 * by a hash of its inputs, in an order where every step comes after the steps it reads. The
 * runner walks the list and builds what is missing; nothing here builds anything.
 */

export type StepKind = 'trainset' | 'model' | 'eval' | (string & {});

export interface RunContext {
  quiet: boolean;
  /** Engine threads per training run (default: the engine's, 2). */
  threads?: number;
  log: (line: string) => void;
}

export interface Step {
  id: string;
  kind: StepKind;
  label: string;
  deps: string[];
  /** Variant names (and groups) that use it, for `--only`. */
  variants: Set<string>;
  /** The inputs that name it. */
  inputs: unknown;
  state(): StepState;
  run(ctx: RunContext): Promise<void>;
}

export interface PlannedEval {
  id: string;
  dataset: string;
  attack: EvalAttack;
  goal: string;
  cleanModel: string | null;
  /** The reference evaluation of a clean/base model on a goal of the study. */
  reference: boolean;
}

export interface PlannedRun {
  variant: VariantSpec;
  seed: number;
  outcome: VariantOutcome;
  /** The model step's job, when the variant trains one (null: the model is an existing one). */
  modelJob: ModelJob | null;
  evals: PlannedEval[];
}

export interface Plan {
  study: StudySpec;
  variants: VariantSpec[];
  dataset: Dataset;
  datasets: Map<string, Dataset>;
  base: { model: string; trainset: string | null; job: ModelJob | null };
  steps: Step[];
  runs: PlannedRun[];
}

function settingKey(v: VariantSpec): string {
  return v.setting ? `${v.setting.field}=${JSON.stringify(v.setting.value)}` : '';
}

/** Builds the plan; `datasets` must hold every dataset of the study (generated already). */
export function planStudy(ws: Workspace, study: StudySpec, variants: VariantSpec[], datasets: Map<string, Dataset>): Plan {
  try {
    return planInner(ws, study, variants, datasets);
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(`study ${study.source.file ? basename(study.source.file) : study.id}: ${err.message}`, 'bad_study');
    throw err;
  }
}

function planInner(ws: Workspace, study: StudySpec, variants: VariantSpec[], datasets: Map<string, Dataset>): Plan {
  const dataset = datasets.get(study.dataset)!;
  const steps = new Map<string, Step>();
  const order: Step[] = [];
  const add = (s: Omit<Step, 'variants'>, users: string[]): string => {
    let step = steps.get(s.id);
    if (!step) {
      step = { ...s, variants: new Set() };
      steps.set(s.id, step);
      order.push(step);
    }
    for (const u of users) step.variants.add(u);
    return s.id;
  };
  const manifest = dataset.card.manifestSha256;
  for (const v of variants) getVariantKind(v.kind, `${v.path}.kind`).validate?.(v, dataset);

  // The base model.
  let base: Plan['base'];
  if (study.base.model) {
    base = { model: study.base.model, trainset: null, job: null };
  } else {
    const b = study.base;
    // Where the dataset reserves a base part, the base trains on it alone (data/pool.ts).
    const part = dataset.card.params?.baseImages ? { part: 'base' } : {};
    const tsInputs = { v: 1, builder: 'clean', dataset: manifest, split: 'train', images: null, ...part };
    const tsHash = inputsHash(tsInputs);
    const ts = add(
      {
        id: contentId('ts', tsInputs),
        kind: 'trainset',
        label: `clean training set of ${dataset.name} (${'part' in part ? 'the base part of the train split' : 'whole train split'})`,
        deps: [],
        inputs: tsInputs,
        state: () => trainsetState(ws, contentId('ts', tsInputs), tsHash),
        run: () => buildBaseTrainset(ws, dataset, contentId('ts', tsInputs), tsHash),
      },
      ['base'],
    );
    const recipe = recipeInfo(b.recipe);
    const arch = b.arch ?? (typeof recipe.recipe.arch === 'string' ? recipe.recipe.arch : null);
    const inputs = {
      v: 1,
      kind: 'base',
      trainset: ts,
      recipe: { name: recipe.name, sha256: recipe.sha256 },
      arch: arch ? archInfo(arch) : null,
      epochs: b.epochs,
      steps: b.steps,
      lr: b.lr,
      batch: b.batch,
      seed: b.seed,
    };
    const id = contentId('base', inputs);
    const job: ModelJob = {
      id,
      kind: 'base',
      trainset: ts,
      from: null,
      arch: b.arch,
      recipe: b.recipe,
      epochs: b.epochs,
      steps: b.steps,
      lr: b.lr,
      batch: b.batch,
      freeze: null,
      seed: b.seed,
      valImages: null,
    };
    // A base package trained from the same pairs with the same settings under another name (the
    // main job's, `poisonlens train`'s) is the same artefact: adopt it rather than train again.
    const adopted = modelState(ws, job).done ? null : findEquivalentBase(ws, dataset, job, recipe.recipe);
    if (adopted) {
      base = { model: adopted, trainset: ts, job: null };
    } else {
      add(
        {
          id,
          kind: 'model',
          label: `train the base model ${id} from scratch (recipe ${b.recipe})`,
          deps: [ts],
          inputs,
          state: () => modelState(ws, job),
          run: (ctx) => buildModel(ws, job, { quiet: ctx.quiet, threads: ctx.threads }),
        },
        ['base'],
      );
      base = { model: id, trainset: ts, job };
    }
  }

  const jobs = new Map<string, ModelJob>();
  const outcomes = new Map<string, VariantOutcome>();
  const planning = new Set<string>();
  const runs: PlannedRun[] = [];
  const byName = new Map(variants.map((v) => [v.name, v]));

  /** The variant of group `group` at the same setting as `v` (else the unswept one). */
  const sibling = (group: string, v: VariantSpec): VariantSpec | undefined =>
    variants.find((x) => x.group === group && settingKey(x) === settingKey(v)) ?? variants.find((x) => x.group === group && x.setting === null) ?? byName.get(group);

  const planVariant = (v: VariantSpec, seed: number): VariantOutcome => {
    const key = `${v.name}\u0000${seed}`;
    const known = outcomes.get(key);
    if (known) return known;
    if (planning.has(key)) fail(v.path, 'variants refer to each other in a circle');
    planning.add(key);
    const users = [v.name, v.group];
    const cleanTs = (s: TrainSettings = v.finetune): string => {
      const inputs = { v: 1, builder: 'clean', dataset: manifest, split: 'train', images: s.images, subsetSeed: s.images === null ? 0 : s.subsetSeed, ...poolClassInputs(s) };
      const id = contentId('ts', inputs);
      const h = inputsHash(inputs);
      return add(
        {
          id,
          kind: 'trainset',
          label: `clean fine-tuning set ${id} (${s.images ?? 'all'} train images)`,
          deps: [],
          inputs,
          state: () => trainsetState(ws, id, h),
          run: () => buildCleanTrainset(ws, dataset, s, id, h),
        },
        users,
      );
    };
    const ctx: VariantPlanContext = {
      ws,
      study,
      dataset,
      variant: v,
      seed,
      base: base.model,
      settings: v.finetune,
      cleanTrainset: cleanTs,
      poisonedTrainset(p, s = v.finetune, poisonSeed = seed) {
        const inputs = {
          v: 1,
          builder: 'poison',
          dataset: manifest,
          split: 'train',
          images: s.images,
          subsetSeed: s.images === null ? 0 : s.subsetSeed,
          ...poolClassInputs(s),
          attack: p.attack,
          goal: p.goal,
          budget: p.budget,
          keepClean: p.keepClean,
          targetImage: p.targetImage ?? null,
          seed: poisonSeed,
        };
        const id = contentId('ts', inputs);
        const h = inputsHash(inputs);
        return add(
          {
            id,
            kind: 'trainset',
            label: `poisoned set ${id}: attack ${p.attack} ${p.goal}, ${'images' in p.budget ? `${p.budget.images} images/goal` : `rate ${p.budget.rate}`}, seed ${poisonSeed}`,
            deps: [],
            inputs,
            state: () => trainsetState(ws, id, h),
            run: (rc) => buildPoisonedTrainset(ws, dataset, s, p, poisonSeed, id, h, rc.quiet),
          },
          users,
        );
      },
      trainset(inputs, label, deps, build) {
        const full = { v: 1, builder: 'custom', kind: v.kind, dataset: manifest, inputs };
        const id = contentId('ts', full);
        const h = inputsHash(full);
        return add(
          {
            id,
            kind: 'trainset',
            label,
            deps,
            inputs: full,
            state: () => trainsetState(ws, id, h),
            run: () => build(id),
          },
          users,
        );
      },
      finetune(from, trainset, s = v.finetune, extra = {}) {
        if (s.steps === null && s.epochs === 0) return from;
        const recipe = recipeInfo(s.recipe);
        const kind: ModelKind = extra.kind ?? (trainset.startsWith('ts-') && isPoisonedInputs(steps.get(trainset)?.inputs) ? 'poisoned' : 'clean');
        const inputs = {
          v: 1,
          kind,
          from,
          trainset,
          recipe: { name: recipe.name, sha256: recipe.sha256 },
          epochs: s.epochs,
          steps: s.steps,
          lr: s.lr,
          batch: s.batch,
          freeze: s.freeze,
          seed,
          defence: extra.defence ?? null,
        };
        const id = contentId(kind, inputs);
        const job: ModelJob = {
          id,
          kind,
          trainset,
          from,
          arch: null,
          recipe: s.recipe,
          epochs: s.epochs,
          steps: s.steps,
          lr: s.lr,
          batch: s.batch,
          freeze: s.freeze,
          seed,
          valImages: s.valImages,
          ...(extra.defence ? { defence: extra.defence } : {}),
        };
        jobs.set(id, job);
        return add(
          {
            id,
            kind: 'model',
            label: `fine-tune ${id} (${v.name}, seed ${seed}${s.freeze ? `, freeze ${s.freeze}` : ''})`,
            deps: [from, trainset].filter((d) => steps.has(d)),
            inputs,
            state: () => modelState(ws, job),
            run: (rc) => buildModel(ws, job, { quiet: rc.quiet, threads: rc.threads }),
          },
          users,
        );
      },
      other(name) {
        const o = sibling(name, v);
        if (!o) fail(v.path, `refers to an unknown variant ${JSON.stringify(name)}`);
        return planVariant(o, seed);
      },
    };
    const kind = getVariantKind(v.kind, `${v.path}.kind`);
    const outcome = kind.plan(ctx, v.fields);
    planning.delete(key);
    outcomes.set(key, outcome);
    return outcome;
  };

  // The goals reference (clean/base) models are evaluated on: one per attack group.
  const referenceGoals: Array<{ attack: EvalAttack; goal: string }> = [];
  const seenGroups = new Set<string>();
  for (const v of variants) {
    if (v.kind !== 'attack' || seenGroups.has(v.group)) continue;
    seenGroups.add(v.group);
    const goals = parseGoals(v.fields.goal as string, { allowAnySource: v.fields.attack === 'backdoor' });
    const attack: EvalAttack = v.fields.attack === 'backdoor' ? 'backdoor' : goals.length > 1 ? 'III' : 'II';
    const goal = goals.map(goalString).join(',');
    if (!referenceGoals.some((g) => g.goal === goal && g.attack === attack)) referenceGoals.push({ attack, goal });
  }
  const refGoals = referenceGoals.slice(0, 4);

  for (const seed of study.seeds) {
    for (const v of variants) {
      const outcome = planVariant(v, seed);
      const users = [v.name, v.group];
      const cleanVariant = v.clean !== null ? sibling(v.clean, v) : undefined;
      const cleanModel = cleanVariant ? planVariant(cleanVariant, seed).model : undefined;
      const evals: PlannedEval[] = [];
      const targets: Array<{ attack: EvalAttack; goal: string; reference: boolean }> = outcome.attack
        ? [{ attack: outcome.attack.type, goal: outcome.attack.goal, reference: false }]
        : refGoals.map((g) => ({ ...g, reference: true }));
      for (const dsName of study.evaluation.datasets) {
        const ds = datasets.get(dsName)!;
        targets.forEach((t, i) => {
          const job: Omit<EvalJob, 'id'> = {
            model: outcome.model,
            dataset: dsName,
            attack: t.attack,
            goal: t.goal,
            targetFrom: t.attack === 'I' ? outcome.trainset : null,
            cleanModel,
            settings: study.evaluation,
            utility: i === 0,
          };
          // v: the evaluation's result format (2: utility outside the source classes); a new one re-evaluates.
          const inputs = { v: 2, ...job, manifest: ds.card.manifestSha256, settings: { ...study.evaluation, datasets: undefined } };
          const id = contentId('eval', inputs);
          const h = inputsHash(inputs);
          const full: EvalJob = { ...job, id };
          add(
            {
              id,
              kind: 'eval',
              label: `evaluate ${outcome.model} (${v.name}, seed ${seed}) on ${dsName}: ${t.attack === 'backdoor' ? 'backdoor' : `attack ${t.attack}`} ${t.goal}${t.reference ? ' (reference)' : ''}`,
              deps: [outcome.model, cleanModel, outcome.trainset].filter((d): d is string => typeof d === 'string' && steps.has(d)),
              inputs,
              state: () => evalState(ws, full, h),
              run: async (rc) => {
                await runEval(ws, full, h, rc.quiet ? undefined : (p) => {
                  if (p.done === p.total && p.total > 0) rc.log(`  ${p.phase}: ${p.done}/${p.total}`);
                });
              },
            },
            users,
          );
          evals.push({ id, dataset: dsName, attack: t.attack, goal: t.goal, cleanModel: cleanModel ?? null, reference: t.reference });
        });
      }
      runs.push({ variant: v, seed, outcome, modelJob: jobs.get(outcome.model) ?? null, evals });
    }
  }
  return { study, variants, dataset, datasets, base, steps: order, runs };
}

/** A pool's class spec as step inputs: absent when unset, so older studies keep their ids. */
function poolClassInputs(s: TrainSettings): Record<string, unknown> {
  return {
    ...(s.profile !== null ? { profile: s.profile } : {}),
    ...(s.classImages !== null ? { classImages: s.classImages } : {}),
    ...(s.captionsPerImage !== null ? { captionsPerImage: s.captionsPerImage } : {}),
  };
}

function isPoisonedInputs(inputs: unknown): boolean {
  return typeof inputs === 'object' && inputs !== null && (inputs as { builder?: string }).builder === 'poison';
}

/** The sha256 of pairs.jsonl of the base's clean training set (as writeTrainset writes it). */
function cleanPairsSha(dataset: Dataset): string {
  const lines: string[] = [];
  for (const e of basePart(dataset)) {
    for (const caption of e.captions) lines.push(JSON.stringify({ image: e.file, caption, imageId: e.id, poisoned: false, attack: null }));
  }
  return sha256(lines.join('\n') + '\n');
}

/**
 * A base model package of the workspace, under any name, that was trained from scratch on the
 * same pairs with the same resolved settings as `job` (its model.json's trainer.config against
 * the recipe with the study's overrides); null when there is none.
 */
export function findEquivalentBase(ws: Workspace, dataset: Dataset, job: ModelJob, recipe: Record<string, unknown>): string | null {
  if (!existsSync(ws.models)) return null;
  const want: Record<string, unknown> = {
    mode: 'scratch',
    pretrained: null,
    arch: job.arch ?? recipe.arch,
    lr: job.lr ?? recipe.lr,
    minLr: recipe.minLr ?? 0,
    weightDecay: recipe.weightDecay,
    warmupSteps: recipe.warmupSteps ?? 0,
    batch: job.batch ?? recipe.batch,
    // The engine's rule: a length given (steps, then epochs) wins over the recipe's, steps before epochs.
    steps: job.steps ?? (job.epochs == null ? (recipe.steps ?? null) : null),
    epochs: job.steps != null || (job.epochs == null && recipe.steps != null) ? null : (job.epochs ?? recipe.epochs),
    augScale: recipe.augScale ?? [0.9, 1.0],
    freeze: null,
    seed: job.seed,
  };
  let pairsSha: string | null = null;
  for (const name of readdirSync(ws.models).sort()) {
    if (name.startsWith('.')) continue;
    const c = readCard(ws, name) as (ReturnType<typeof readCard> & { trainer?: { config?: Record<string, unknown> } }) | null;
    if (!c || c.kind !== 'base' || (c.parent ?? null) !== null || !c.trainset?.sha256) continue;
    const cfg = c.trainer?.config ?? {};
    if (Object.entries(want).some(([k, v]) => stableStringify(cfg[k] ?? null) !== stableStringify(v ?? null))) continue;
    if (!['image.onnx', 'text.onnx', 'checkpoint.pt'].every((f) => existsSync(join(ws.models, name, f)))) continue;
    pairsSha ??= cleanPairsSha(dataset);
    if (c.trainset.sha256 === pairsSha) return name;
  }
  return null;
}
