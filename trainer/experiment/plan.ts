import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../../core/workspace.js';
import type { Dataset } from '../../data/dataset.js';
import { parseGoals, goalString } from '../../data/poison/poison.js';
import type { EvalAttack } from '../../eval/evaluate.js';
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
import { trainConfig } from '../train.js';
import { derivedKind } from '../training-settings.js';
import { fail, SpecError } from './check.js';
import type { StudySpec, TrainSettings, VariantSpec } from './spec.js';
import { getVariantKind, type PoisonSpec, type VariantOutcome, type VariantPlanContext } from './study-variants.js';
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
    return new Planner(ws, study, variants, datasets).plan();
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(`study ${study.source.file ? basename(study.source.file) : study.id}: ${err.message}`, 'bad_study');
    throw err;
  }
}

/** Builds one plan: steps keyed by id (added once, in dependency order) and the planned runs. */
class Planner {
  private readonly steps = new Map<string, Step>();
  private readonly order: Step[] = [];
  private readonly dataset: Dataset;
  private readonly manifest: string;
  private readonly jobs = new Map<string, ModelJob>();
  private readonly outcomes = new Map<string, VariantOutcome>();
  private readonly planning = new Set<string>();
  private readonly byName: Map<string, VariantSpec>;
  private base!: Plan['base'];

  constructor(
    private readonly ws: Workspace,
    private readonly study: StudySpec,
    private readonly variants: VariantSpec[],
    private readonly datasets: Map<string, Dataset>,
  ) {
    this.dataset = datasets.get(study.dataset)!;
    this.manifest = this.dataset.card.manifestSha256;
    this.byName = new Map(variants.map((v) => [v.name, v]));
  }

  plan(): Plan {
    for (const v of this.variants) getVariantKind(v.kind, `${v.path}.kind`).validate?.(v, this.dataset);
    this.base = this.planBase();
    const refGoals = referenceGoals(this.variants);
    const runs: PlannedRun[] = [];
    for (const seed of this.study.seeds) for (const v of this.variants) runs.push(this.planRun(v, seed, refGoals));
    return { study: this.study, variants: this.variants, dataset: this.dataset, datasets: this.datasets, base: this.base, steps: this.order, runs };
  }

  private add(s: Omit<Step, 'variants'>, users: string[]): string {
    let step = this.steps.get(s.id);
    if (!step) {
      step = { ...s, variants: new Set() };
      this.steps.set(s.id, step);
      this.order.push(step);
    }
    for (const u of users) step.variants.add(u);
    return s.id;
  }

  /** A training-set step named by its inputs. */
  private trainsetStep(inputs: Record<string, unknown>, label: (id: string) => string, deps: string[], users: string[], build: (id: string, hash: string, ctx: RunContext) => Promise<void>): string {
    const id = contentId('ts', inputs);
    const h = inputsHash(inputs);
    return this.add({ id, kind: 'trainset', label: label(id), deps, inputs, state: () => trainsetState(this.ws, id, h), run: (rc) => build(id, h, rc) }, users);
  }

  // ---------------------------------------------------------------------------- the base model

  private planBase(): Plan['base'] {
    const b = this.study.base;
    if (b.model) return { model: b.model, trainset: null, job: null };
    return this.pretrained(b, ['base']);
  }

  /**
   * A model trained from scratch on the base's pairs with settings `b` (the study's base, or an
   * independent reference of another architecture or seed); an equivalent package trained under
   * another name (the main job's, `poisonlens train`'s) is adopted rather than trained again.
   */
  private pretrained(b: StudySpec['base'], users: string[]): Plan['base'] {
    const ts = this.baseTrainset();
    const recipe = recipeInfo(b.recipe);
    const arch = b.arch ?? (typeof recipe.recipe.arch === 'string' ? recipe.recipe.arch : null);
    const kind = derivedKind('scratch', false);
    const inputs = { v: 1, kind, trainset: ts, recipe: { name: recipe.name, sha256: recipe.sha256 }, arch: arch ? archInfo(arch) : null, epochs: b.epochs, steps: b.steps, lr: b.lr, batch: b.batch, seed: b.seed };
    const id = contentId(kind, inputs);
    const job: ModelJob = { id, kind, trainset: ts, from: null, arch: b.arch, recipe: b.recipe, epochs: b.epochs, steps: b.steps, lr: b.lr, batch: b.batch, freeze: null, seed: b.seed, valImages: null };
    const adopted = modelState(this.ws, job).done ? null : findEquivalentBase(this.ws, this.baseDataset(), job);
    if (adopted) return { model: adopted, trainset: ts, job: null };
    const ws = this.ws;
    this.add(
      { id, kind: 'model', label: `train the base model ${id} from scratch (recipe ${b.recipe}${b.arch ? `, ${b.arch}` : ''})`, deps: [ts], inputs, state: () => modelState(ws, job), run: (ctx) => buildModel(ws, job, { quiet: ctx.quiet, threads: ctx.threads }) },
      users,
    );
    return { model: id, trainset: ts, job };
  }

  /** The dataset the base pre-trains on: base.dataset, else the study's. */
  private baseDataset(): Dataset {
    return this.datasets.get(this.study.base.dataset ?? this.study.dataset)!;
  }

  /** The base's clean pairs: where the dataset reserves a base part, that part alone (data/pool.ts). */
  private baseTrainset(): string {
    const ds = this.baseDataset();
    const part = ds.card.params?.baseImages ? { part: 'base' } : {};
    const inputs = { v: 1, builder: 'clean', dataset: ds.card.manifestSha256, split: 'train', images: null, ...part };
    const where = 'part' in part ? 'the base part of the train split' : 'whole train split';
    return this.trainsetStep(inputs, () => `clean training set of ${ds.name} (${where})`, [], ['base'], (id, h) => buildBaseTrainset(this.ws, ds, id, h));
  }

  // ---------------------------------------------------------------------------- variants

  /** The variant of group `group` at the same setting as `v` (else the unswept one). */
  private sibling(group: string, v: VariantSpec): VariantSpec | undefined {
    return this.variants.find((x) => x.group === group && settingKey(x) === settingKey(v)) ?? this.variants.find((x) => x.group === group && x.setting === null) ?? this.byName.get(group);
  }

  private planVariant(v: VariantSpec, seed: number): VariantOutcome {
    const key = `${v.name}\u0000${seed}`;
    const known = this.outcomes.get(key);
    if (known) return known;
    if (this.planning.has(key)) fail(v.path, 'variants refer to each other in a circle');
    this.planning.add(key);
    const outcome = getVariantKind(v.kind, `${v.path}.kind`).plan(this.context(v, seed), v.fields);
    this.planning.delete(key);
    this.outcomes.set(key, outcome);
    return outcome;
  }

  /** What a variant kind may ask of the plan for one seed. */
  private context(v: VariantSpec, seed: number): VariantPlanContext {
    const users = [v.name, v.group];
    return {
      ws: this.ws,
      study: this.study,
      dataset: this.dataset,
      variant: v,
      seed,
      base: this.base.model,
      settings: v.finetune,
      cleanTrainset: (s = v.finetune, dataset) => this.cleanTrainset(s, users, dataset),
      pretrain: (o) => {
        if (this.study.base.model) fail(`${v.path}`, 'pre-training a reference needs a base trained by the study (base.model names an existing one)');
        return this.pretrained({ ...this.study.base, arch: o.arch ?? this.study.base.arch, seed: o.seed ?? this.study.base.seed }, users).model;
      },
      poisonedTrainset: (p, s = v.finetune, poisonSeed = seed) => this.poisonedTrainset(p, s, poisonSeed, users),
      trainset: (inputs, label, deps, build) =>
        this.trainsetStep({ v: 1, builder: 'custom', kind: v.kind, dataset: this.manifest, inputs }, () => label, deps, users, (id) => build(id)),
      finetune: (from, trainset, s = v.finetune, extra = {}) => this.finetune(v, seed, from, trainset, s, extra),
      other: (name) => {
        const o = this.sibling(name, v);
        if (!o) fail(v.path, `refers to an unknown variant ${JSON.stringify(name)}`);
        return this.planVariant(o, seed);
      },
    };
  }

  private cleanTrainset(s: TrainSettings, users: string[], datasetName?: string): string {
    const ds = datasetName ? this.datasets.get(datasetName) : this.dataset;
    if (!ds) return fail('datasets', `no dataset ${JSON.stringify(datasetName)} among the study's datasets`);
    const inputs = { v: 1, builder: 'clean', dataset: ds.card.manifestSha256, split: 'train', images: s.images, subsetSeed: s.images === null ? 0 : s.subsetSeed, ...poolClassInputs(s) };
    const of = ds === this.dataset ? '' : ` of ${ds.name}`;
    return this.trainsetStep(inputs, (id) => `clean fine-tuning set ${id}${of} (${s.images ?? 'all'} train images)`, [], users, (id, h) => buildCleanTrainset(this.ws, ds, s, id, h));
  }

  private poisonedTrainset(p: PoisonSpec, s: TrainSettings, poisonSeed: number, users: string[]): string {
    const inputs = {
      v: 1,
      builder: 'poison',
      dataset: this.manifest,
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
    const budget = 'images' in p.budget ? `${p.budget.images} images/goal` : `rate ${p.budget.rate}`;
    return this.trainsetStep(inputs, (id) => `poisoned set ${id}: attack ${p.attack} ${p.goal}, ${budget}, seed ${poisonSeed}`, [], users, (id, h, rc) =>
      buildPoisonedTrainset(this.ws, this.dataset, s, p, poisonSeed, id, h, rc.quiet),
    );
  }

  private finetune(v: VariantSpec, seed: number, from: string, trainset: string, s: TrainSettings, extra: { kind?: ModelKind; defence?: Record<string, unknown>; saveEpochs?: boolean }): string {
    if (s.steps === null && s.epochs === 0) return from;
    const recipe = recipeInfo(s.recipe);
    // The kind the engine would derive (a poisoned builder's set has poisoned pairs); it names the model.
    const kind: ModelKind = extra.kind ?? derivedKind('finetune', trainset.startsWith('ts-') && isPoisonedInputs(this.steps.get(trainset)?.inputs));
    const inputs = {
      v: 1, kind, from, trainset, recipe: { name: recipe.name, sha256: recipe.sha256 }, epochs: s.epochs, steps: s.steps, lr: s.lr, batch: s.batch, freeze: s.freeze, seed, defence: extra.defence ?? null,
      // snapshots make another artefact (more packages), so they name it; absent otherwise, so older ids stay
      ...(extra.saveEpochs ? { saveEpochs: true } : {}),
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
      ...(extra.saveEpochs ? { saveEpochs: true } : {}),
    };
    this.jobs.set(id, job);
    const ws = this.ws;
    return this.add(
      {
        id,
        kind: 'model',
        label: `fine-tune ${id} (${v.name}, seed ${seed}${s.freeze ? `, freeze ${s.freeze}` : ''})`,
        deps: [from, trainset].filter((d) => this.steps.has(d)),
        inputs,
        state: () => modelState(ws, job),
        run: (rc) => buildModel(ws, job, { quiet: rc.quiet, threads: rc.threads }),
      },
      [v.name, v.group],
    );
  }

  // ---------------------------------------------------------------------------- evaluations

  /** One variant at one seed: its model, and its evaluations on every evaluation dataset. */
  private planRun(v: VariantSpec, seed: number, refGoals: Array<{ attack: EvalAttack; goal: string }>): PlannedRun {
    const outcome = this.planVariant(v, seed);
    const cleanVariant = v.clean !== null ? this.sibling(v.clean, v) : undefined;
    const cleanModel = cleanVariant ? this.planVariant(cleanVariant, seed).model : undefined;
    const targets = outcome.attack ? [{ attack: outcome.attack.type, goal: outcome.attack.goal, reference: false }] : refGoals.map((g) => ({ ...g, reference: true }));
    const evals: PlannedEval[] = [];
    for (const dsName of this.study.evaluation.datasets) {
      targets.forEach((t, i) => evals.push(this.evalStep(v, seed, outcome, cleanModel, dsName, t, i === 0)));
    }
    return { variant: v, seed, outcome, modelJob: this.jobs.get(outcome.model) ?? this.jobs.get(outcome.producedBy ?? '') ?? null, evals };
  }

  private evalStep(v: VariantSpec, seed: number, outcome: VariantOutcome, cleanModel: string | undefined, dsName: string, t: { attack: EvalAttack; goal: string; reference: boolean }, utility: boolean): PlannedEval {
    const ds = this.datasets.get(dsName)!;
    const job: Omit<EvalJob, 'id'> = {
      model: outcome.model,
      dataset: dsName,
      attack: t.attack,
      goal: t.goal,
      targetFrom: t.attack === 'I' ? outcome.trainset : null,
      cleanModel,
      settings: this.study.evaluation,
      utility,
    };
    // v: the evaluation's result format (2: utility outside the source classes); a new one re-evaluates.
    const inputs = { v: 2, ...job, manifest: ds.card.manifestSha256, settings: { ...this.study.evaluation, datasets: undefined } };
    const id = contentId('eval', inputs);
    const h = inputsHash(inputs);
    const full: EvalJob = { ...job, id };
    const ws = this.ws;
    this.add(
      {
        id,
        kind: 'eval',
        label: `evaluate ${outcome.model} (${v.name}, seed ${seed}) on ${dsName}: ${t.attack === 'backdoor' ? 'backdoor' : `attack ${t.attack}`} ${t.goal}${t.reference ? ' (reference)' : ''}`,
        deps: [outcome.model, outcome.producedBy, cleanModel, outcome.trainset].filter((d): d is string => typeof d === 'string' && this.steps.has(d)),
        inputs,
        state: () => evalState(ws, full, h),
        run: async (rc) => {
          await runEval(ws, full, h, rc.quiet ? undefined : (p) => {
            if (p.done === p.total && p.total > 0) rc.log(`  ${p.phase}: ${p.done}/${p.total}`);
          });
        },
      },
      [v.name, v.group],
    );
    return { id, dataset: dsName, attack: t.attack, goal: t.goal, cleanModel: cleanModel ?? null, reference: t.reference };
  }
}

/** The goals reference (clean/base) models are evaluated on: one per attack group, at most four. */
function referenceGoals(variants: VariantSpec[]): Array<{ attack: EvalAttack; goal: string }> {
  const out: Array<{ attack: EvalAttack; goal: string }> = [];
  const seenGroups = new Set<string>();
  for (const v of variants) {
    if (v.kind !== 'attack' || seenGroups.has(v.group)) continue;
    seenGroups.add(v.group);
    const goals = parseGoals(v.fields.goal as string, { allowAnySource: v.fields.attack === 'backdoor' });
    const attack: EvalAttack = v.fields.attack === 'backdoor' ? 'backdoor' : goals.length > 1 ? 'III' : 'II';
    const goal = goals.map(goalString).join(',');
    if (!out.some((g) => g.goal === goal && g.attack === attack)) out.push({ attack, goal });
  }
  return out.slice(0, 4);
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
 * what the engine resolves for the job's flags); null when there is none.
 */
export function findEquivalentBase(ws: Workspace, dataset: Dataset, job: ModelJob): string | null {
  if (!existsSync(ws.models)) return null;
  let want: Record<string, unknown> | null = null;
  let pairsSha: string | null = null;
  for (const name of readdirSync(ws.models).sort()) {
    if (name.startsWith('.')) continue;
    const c = readCard(ws, name);
    if (!c || c.kind !== 'base' || (c.parent ?? null) !== null || !c.trainset?.sha256) continue;
    const cfg = c.trainer?.config ?? {};
    want ??= baseConfigToMatch(ws, job);
    if (Object.entries(want).some(([k, v]) => stableStringify(cfg[k] ?? null) !== stableStringify(v ?? null))) continue;
    if (!['image.onnx', 'text.onnx', 'checkpoint.pt'].every((f) => existsSync(join(ws.models, name, f)))) continue;
    pairsSha ??= cleanPairsSha(dataset);
    if (c.trainset.sha256 === pairsSha) return name;
  }
  return null;
}

/** The fields of trainer.config that decide a base model's weights, as the engine resolves the job's flags (asked, not restated). */
function baseConfigToMatch(ws: Workspace, job: ModelJob): Record<string, unknown> {
  const { config } = trainConfig(ws, { recipe: job.recipe, arch: job.arch ?? undefined, epochs: job.epochs ?? undefined, steps: job.steps ?? undefined, lr: job.lr ?? undefined, batch: job.batch ?? undefined, seed: job.seed });
  const keys = ['mode', 'pretrained', 'arch', 'lr', 'minLr', 'weightDecay', 'warmupSteps', 'batch', 'steps', 'epochs', 'augScale', 'freeze', 'seed'];
  return Object.fromEntries(keys.map((k) => [k, config[k]]));
}
