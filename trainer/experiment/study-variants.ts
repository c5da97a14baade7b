import { UserError } from '../../core/errors.js';
import type { Workspace } from '../../core/workspace.js';
import type { Dataset } from '../../data/dataset.js';
import { attackNames, checkGoalClasses, goalString, parseGoals, type Budget } from '../../data/poison/poison.js';
import type { EvalAttack } from '../../eval/evaluate.js';
import type { ModelKind } from '../../indexer/package.js';
import { bool, fail, Fields, num, oneOf, str, type Check } from './check.js';
import type { StudySpec, TrainSettings, VariantSpec } from './study-types.js';

/**
 * Variant kinds: what one fine-tuning variant of a study builds, by name. A kind validates its
 * own fields of the study file and, for one seed, declares the artefacts it needs through the
 * planning context (training sets, fine-tunes, custom steps); the runner builds, caches and
 * evaluates them. New kinds (defences: `filter`, `sterilize`, …) register themselves with
 * `registerVariantKind` from their own module, without touching the runner:
 *
 *   registerVariantKind({
 *     name: 'filter', summary: '…',
 *     fields: (f) => ({ of: f.need('of', str), gamma: f.get('gamma', num({ min: 0 }), 0.1) }),
 *     plan(ctx, fields) {
 *       const poisoned = ctx.other(fields.of as string);          // another variant, same seed
 *       const ts = ctx.trainset({ builder: 'filter', of: poisoned.trainset, gamma: fields.gamma },
 *         'filter …', [poisoned.trainset!, ctx.base], async (name) => { … write workspace/trainsets/<name> … });
 *       return { model: ctx.finetune(ctx.base, ts, ctx.settings, { kind: 'defended', defence: { type: 'filter', … } }),
 *                trainset: ts, attack: poisoned.attack };
 *     },
 *   });
 */

/** What a variant contributes for one seed (and sweep setting). */
export interface VariantOutcome {
  /** The model to evaluate. */
  model: string;
  /** The step that writes `model` when it is not a step of its own (an epoch snapshot of a training). */
  producedBy?: string;
  /** The training set it was fine-tuned on (null: none, e.g. the base model itself). */
  trainset: string | null;
  /** The attack the model is evaluated on (null: evaluated on the study's goals as a reference). */
  attack: { type: EvalAttack; goal: string } | null;
}

export interface PoisonSpec {
  attack: string;
  goal: string;
  budget: Budget;
  keepClean: boolean;
  targetImage?: string;
}

export interface VariantPlanContext {
  ws: Workspace;
  study: StudySpec;
  /** The dataset the study trains on. */
  dataset: Dataset;
  variant: VariantSpec;
  seed: number;
  /** The study's base model id. */
  base: string;
  /** The variant's fine-tuning settings (study defaults merged with its own). */
  settings: TrainSettings;
  /** The clean fine-tuning set (the pool of training images the settings select), of the study's dataset or of `dataset`. */
  cleanTrainset(settings?: TrainSettings, dataset?: string): string;
  /**
   * A model pre-trained from scratch like the study's base (same recipe and pairs) but with
   * another architecture and/or seed: an independent reference for the defences. Returns its id.
   */
  pretrain(opts: { arch?: string | null; seed?: number }): string;
  /** A poisoned fine-tuning set: the attack applied to the pool, seeded by `seed` (default: ctx.seed). */
  poisonedTrainset(p: PoisonSpec, settings?: TrainSettings, seed?: number): string;
  /**
   * A custom training set: `inputs` decide its content (they name it), `build(name)` writes
   * workspace/trainsets/<name>/ (e.g. with data/trainset.ts writeTrainset); `deps` are the step ids
   * it reads. Returns its id.
   */
  trainset(inputs: unknown, label: string, deps: string[], build: (name: string) => Promise<void>): string;
  /**
   * Fine-tunes `from` (a model id) on `trainset`; returns the new model's id, or `from` itself
   * when the settings ask for 0 epochs (no fine-tuning).
   */
  finetune(from: string, trainset: string, settings?: TrainSettings, extra?: { kind?: ModelKind; defence?: Record<string, unknown>; saveEpochs?: boolean }): string;
  /** Another variant's outcome for the same seed and sweep setting. */
  other(name: string): VariantOutcome;
}

export interface VariantExpandContext {
  classes: readonly string[];
}

export interface VariantKind {
  name: string;
  summary: string;
  /**
   * Reads and checks the kind's own fields (the common ones — name, kind, label, clean,
   * finetune, sweep — are read already); returns them normalised. Unknown fields are rejected
   * by the caller after this returns.
   */
  fields(f: Fields): Record<string, unknown>;
  /** Optional: one variant of the file becomes several (e.g. every A>B goal). */
  expand?(v: VariantSpec, ctx: VariantExpandContext): VariantSpec[];
  /** Checks fields against the training dataset (classes exist, …); throw SpecError. */
  validate?(v: VariantSpec, dataset: Dataset): void;
  plan(ctx: VariantPlanContext, fields: Record<string, unknown>): VariantOutcome;
}

const KINDS = new Map<string, VariantKind>();

export function registerVariantKind(kind: VariantKind): void {
  KINDS.set(kind.name, kind);
}

export function variantKindNames(): string[] {
  return [...KINDS.keys()];
}

export function getVariantKind(name: string, path = 'kind'): VariantKind {
  const k = KINDS.get(name);
  if (!k) fail(path, `unknown variant kind ${JSON.stringify(name)}; known: ${variantKindNames().join(', ')}`);
  return k;
}

// ------------------------------------------------------------------------------ built-in kinds

registerVariantKind({
  name: 'base',
  summary: 'the base model itself, not fine-tuned (the paper’s pre-trained model)',
  fields: () => ({}),
  plan: (ctx) => ({ model: ctx.base, trainset: null, attack: null }),
});

registerVariantKind({
  name: 'clean',
  summary: 'the base fine-tuned on the clean fine-tuning set',
  fields: () => ({}),
  plan(ctx) {
    const ts = ctx.cleanTrainset();
    return { model: ctx.finetune(ctx.base, ts), trainset: ts, attack: null };
  },
});

const goalText: Check<string> = (v, p) => {
  const s = str(v, p);
  if (s === 'all') return s;
  try {
    parseGoals(s);
  } catch (err) {
    fail(p, (err as Error).message);
  }
  return s;
};

/** Attack types the evaluation knows; a registered attack outside them is evaluated as II/III. */
function evalAttackOf(attack: string, goals: number): EvalAttack {
  if (attack === 'I' || attack === 'II' || attack === 'III' || attack === 'backdoor') return attack;
  return goals > 1 ? 'III' : 'II';
}

/** The 19 derangements i → i+k (mod n) of the classes: every A>B once across n−1 injections. */
export function shiftGoalSets(classes: readonly string[]): string[][] {
  const n = classes.length;
  const sets: string[][] = [];
  for (let k = 1; k < n; k++) sets.push(classes.map((a, i) => `${a}>${classes[(i + k) % n]}`));
  return sets;
}

/** An epoch-curve variant as one point per epoch 0…E (0: the base itself) of the same training. */
function epochPoints(v: VariantSpec): VariantSpec[] {
  const epochs = v.finetune.epochs;
  if (epochs === null || !Number.isInteger(epochs) || epochs < 1) fail(`${v.path}.finetune.epochs`, 'an epoch curve needs a whole number of epochs ≥ 1');
  if (v.setting) fail(`${v.path}.epochCurve`, 'an epoch curve cannot be swept as well');
  return Array.from({ length: epochs + 1 }, (_, k) => ({ ...v, name: `${v.name}@epoch=${k}`, setting: { field: 'epoch', value: k }, fields: { ...v.fields, epochPoint: k } }));
}

/** The model of epoch `k` of the variant's one training: the base (0), a snapshot, or the final package. */
function epochSnapshot(ctx: VariantPlanContext, trainset: string, k: number): { model: string; producedBy?: string } {
  if (k === 0) return { model: ctx.base };
  const final = ctx.finetune(ctx.base, trainset, ctx.settings, { saveEpochs: true });
  return k === ctx.settings.epochs ? { model: final } : { model: `${final}-e${String(k).padStart(2, '0')}`, producedBy: final };
}

registerVariantKind({
  name: 'attack',
  summary: 'the base fine-tuned on a poisoned fine-tuning set (attacks I, II, III, backdoor)',
  fields(f) {
    const attack = f.need('attack', str);
    if (!attackNames().includes(attack)) fail(f.at('attack'), `unknown attack ${JSON.stringify(attack)}; one of: ${attackNames().join(', ')}`);
    const goal = f.need('goal', goalText);
    if (goal !== 'all') {
      try {
        const goals = parseGoals(goal, { allowAnySource: attack === 'backdoor' });
        if (attack === 'III' && goals.length < 2) fail(f.at('goal'), 'attack III takes two or more goals A>B,A2>B2; for one use attack II');
        if (attack !== 'III' && goals.length !== 1) fail(f.at('goal'), `attack ${attack} takes exactly one goal; for several at once use attack III`);
      } catch (err) {
        if (err instanceof UserError && err.code === 'bad_study') throw err;
        fail(f.at('goal'), (err as Error).message);
      }
    }
    const images = f.get('poisonImages', num({ integer: true, min: 0 }));
    const rate = f.get('rate', num({ min: 0, max: 0.99 }));
    if (images === undefined && rate === undefined) fail(f.at('poisonImages'), 'give the budget: poisonImages (images per goal) or rate (poisoned pairs / all pairs)');
    if (images !== undefined && rate !== undefined) fail(f.at('rate'), 'give poisonImages or rate, not both');
    const targetImage = f.get('targetImage', str);
    if (targetImage !== undefined && attack !== 'I') fail(f.at('targetImage'), 'only attack I has a target image');
    const grouping = f.get('grouping', oneOf(['shifts', 'single'] as const), 'shifts');
    if (f.has('grouping') && goal !== 'all') fail(f.at('grouping'), 'grouping applies only to goal "all"');
    // One training with a package at each epoch's end, every epoch evaluated (the paper's Figure 3).
    const epochCurve = f.get('epochCurve', bool, false);
    if (epochCurve && goal === 'all') fail(f.at('epochCurve'), 'an epoch curve takes one goal (or one set of goals), not "all"');
    return {
      attack,
      goal,
      budget: images !== undefined ? { images } : { rate },
      keepClean: f.get('keepClean', bool, false),
      ...(targetImage !== undefined ? { targetImage } : {}),
      ...(goal === 'all' ? { grouping } : {}),
      ...(epochCurve ? { epochCurve } : {}),
    };
  },
  expand(v, { classes }) {
    if (v.fields.epochCurve) return epochPoints(v);
    if (v.fields.goal !== 'all') return [v];
    const grouping = v.fields.grouping as 'shifts' | 'single';
    const attack = v.fields.attack as string;
    const sets =
      grouping === 'single' || attack !== 'III'
        ? classes.flatMap((a) => classes.filter((b) => b !== a).map((b) => [`${a}>${b}`]))
        : shiftGoalSets(classes);
    if (grouping === 'shifts' && attack !== 'III') fail(`${v.path}.grouping`, '"shifts" injects many goals at once: use attack III (or grouping "single")');
    return sets.map((goals, i) => {
      const goal = goals.join(',');
      const { grouping: _g, ...rest } = v.fields;
      return {
        ...v,
        name: `${v.name}@${grouping === 'shifts' ? `shift=${i + 1}` : goal}`,
        setting: v.setting ?? { field: 'goal', value: goal },
        fields: { ...rest, goal },
      };
    });
  },
  validate(v, dataset) {
    const goals = parseGoals(v.fields.goal as string, { allowAnySource: v.fields.attack === 'backdoor' });
    try {
      checkGoalClasses(goals, dataset.card.classes, dataset.name);
    } catch (err) {
      fail(`${v.path}.goal`, (err as Error).message);
    }
  },
  plan(ctx, f) {
    const p: PoisonSpec = {
      attack: f.attack as string,
      goal: f.goal as string,
      budget: f.budget as Budget,
      keepClean: f.keepClean as boolean,
      ...(f.targetImage !== undefined ? { targetImage: f.targetImage as string } : {}),
    };
    const ts = ctx.poisonedTrainset(p);
    const goals = parseGoals(p.goal, { allowAnySource: p.attack === 'backdoor' });
    const attack = { type: evalAttackOf(p.attack, goals.length), goal: goals.map(goalString).join(',') };
    if (f.epochCurve) return { ...epochSnapshot(ctx, ts, f.epochPoint as number), trainset: ts, attack };
    return { model: ctx.finetune(ctx.base, ts), trainset: ts, attack };
  },
});
