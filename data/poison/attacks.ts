import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { Rng, hashString } from '../../core/random.js';
import type { Dataset, ManifestEntry } from '../dataset.js';
import type { TrainPair } from '../trainset.js';
import { ANY_CLASS, checkGoalClasses, goalString, type Goal } from './goals.js';
import { DEFAULT_TRIGGER, stampTrigger, type TriggerSpec } from './trigger.js';

/**
 * Poisoning attacks (Yang et al., ICML 2023, and a Carlini & Terzis 2022 backdoor), as builders
 * registered by name that share one signature: a request in, the training pairs (plus any new
 * image files and the facts for trainset.json) out. Writing is the caller's job (./poisoned-trainset.ts).
 *
 * Every attack works the same way: per goal A>B it lists the eligible class-A training images
 * in a seeded order and poisons the first K of them; each poisoned image's captions become
 * poisoned pairs (so an image with 5 captions gives 5 poisoned pairs). Unless `keepClean`, the
 * poisoned images' own clean pairs are dropped (as in the paper's code); with it they stay
 * (pure injection). All other training images give one clean pair per caption.
 */

/** How much poison: K images per goal, or a target fraction of poisoned pairs among all pairs. */
export type Budget = { images: number } | { rate: number };

export interface PoisonRequest {
  dataset: Dataset;
  goals: Goal[];
  budget: Budget;
  keepClean: boolean;
  seed: number;
  /** Attack I: the target image's id (default: seeded pick among class B's test images). */
  targetImage?: string;
  /** Backdoor: the trigger patch (default DEFAULT_TRIGGER). */
  trigger?: TriggerSpec;
  /** Final folder of the training set: new image files get absolute paths under it. */
  outDir: string;
}

/** A new file for the training-set folder (path relative to it). */
export interface PoisonFile {
  path: string;
  bytes: () => Promise<Uint8Array>;
}

export interface PoisonResult {
  pairs: TrainPair[];
  files: PoisonFile[];
  /** Goes into trainset.json under `attack`. */
  facts: AttackFacts;
}

export interface GoalFacts {
  goal: string;
  /** Ids of the class-A (source) images whose captions were poisoned, in selection order. */
  sourceImages: string[];
  /** Ids of the images the poisoned captions were paired with (distinct, in first-use order). */
  targetImages: string[];
  poisonedPairs: number;
  /** Eligible source images there were (the largest possible K). */
  available: number;
}

export interface AttackFacts {
  type: string;
  /** All goals joined: "A>B" or "A>B,A2>B2" (what model.json's `attack.goal` carries). */
  goal: string;
  goals: string[];
  keepClean: boolean;
  seed: number;
  budget: {
    requested: Budget;
    imagesPerGoal: number;
    poisonedImages: number;
    poisonedPairs: number;
    totalPairs: number;
    /** Exactly poisonedPairs / totalPairs. */
    rate: number;
  };
  perGoal: GoalFacts[];
  [extra: string]: unknown;
}

export type AttackBuilder = (req: PoisonRequest) => Promise<PoisonResult>;

export interface AttackInfo {
  name: string;
  summary: string;
  /** How many goals it takes. */
  goals: { min: number; max: number };
  /** Whether a goal may read `*>B` (any class but B). */
  anySource: boolean;
  build: AttackBuilder;
}

const ATTACKS = new Map<string, AttackInfo>();

export function registerAttack(info: AttackInfo): void {
  ATTACKS.set(info.name, info);
}

export function attackNames(): string[] {
  return [...ATTACKS.keys()];
}

export function getAttack(name: string): AttackInfo {
  const a = ATTACKS.get(name);
  if (!a) throw new UserError(`unknown attack ${JSON.stringify(name)}; one of: ${attackNames().join(', ')}`, 'unknown_attack');
  return a;
}

/** Checks the goals against the attack and the dataset, then builds. */
export function runAttack(name: string, req: PoisonRequest): Promise<PoisonResult> {
  const info = getAttack(name);
  checkGoalCount(info, req.goals);
  if (!info.anySource) {
    const any = req.goals.find((g) => g.source === ANY_CLASS);
    if (any) throw new UserError(`bad goal ${goalString(any)}: '*' as the source class is only for --attack backdoor`, 'bad_goal');
  }
  checkGoalClasses(req.goals, req.dataset.card.classes, req.dataset.name);
  return info.build(req);
}

/** The clean pairs of one manifest entry: one per caption, the image path dataset-relative. */
export function cleanPairs(e: ManifestEntry): TrainPair[] {
  return e.captions.map((caption) => ({ image: e.file, caption, imageId: e.id, poisoned: false, attack: null }));
}

/** A generator seeded from the request seed and a purpose, so each choice has its own stream. */
export function seededRng(seed: number, purpose: string): Rng {
  return new Rng((seed ^ hashString(purpose)) >>> 0);
}

/** The train-split images eligible as poisoned class-A sources for a goal, in seeded order. */
export function eligibleSources(dataset: Dataset, goal: Goal, seed: number): ManifestEntry[] {
  const pool = dataset.entries.filter(
    (e) =>
      e.split === 'train' &&
      e.captions.length > 0 &&
      (goal.source === ANY_CLASS ? e.label !== null && e.label !== goal.target && !e.labels.includes(goal.target) : e.label === goal.source),
  );
  return seededRng(seed, `sources:${goalString(goal)}`).shuffle(pool);
}

/** Per goal: the eligible sources (in order) and how a chosen source turns into poisoned pairs. */
interface GoalPlan {
  goal: Goal;
  sources: ManifestEntry[];
  /** The poisoned pairs of the k-th chosen source; `first` counts this goal's earlier poisoned pairs. */
  poison(src: ManifestEntry, k: number, first: number): TrainPair[];
  /** New files for the k-th chosen source (backdoor). */
  files?(src: ManifestEntry, k: number): PoisonFile[];
}

/**
 * Solves the budget to K images per goal. For a rate R, K is the number whose achieved rate
 * (poisoned pairs / all pairs) is closest to R, ties to the smaller K; an R beyond what the
 * eligible images can give is an error.
 */
export function solveBudget(plans: GoalPlan[], budget: Budget, cleanTotal: number, keepClean: boolean): number {
  const maxK = Math.min(...plans.map((p) => p.sources.length));
  if ('images' in budget) {
    const K = budget.images;
    if (!Number.isInteger(K) || K < 0) throw new UserError(`--poison-images must be a whole number ≥ 0, got ${K}`, 'bad_budget');
    for (const p of plans) {
      if (K > p.sources.length) {
        throw new UserError(`--poison-images ${K} is more than the ${p.sources.length} training images with captions available for goal ${goalString(p.goal)}`, 'budget_too_large');
      }
    }
    return K;
  }
  const R = budget.rate;
  if (!(R >= 0 && R < 1)) throw new UserError(`--rate must be in [0, 1), got ${R}`, 'bad_budget');
  const rateAt: number[] = [];
  let poisoned = 0;
  for (let K = 0; K <= maxK; K++) {
    if (K > 0) for (const p of plans) poisoned += p.sources[K - 1].captions.length;
    rateAt.push(poisoned / (cleanTotal + (keepClean ? poisoned : 0)));
  }
  let best = 0;
  for (let K = 1; K <= maxK; K++) if (Math.abs(rateAt[K] - R) < Math.abs(rateAt[best] - R)) best = K;
  const top = rateAt[maxK];
  const step = maxK > 0 ? top / maxK : 0;
  if (R > top && R - top > step / 2) {
    const g = plans.reduce((a, b) => (b.sources.length < a.sources.length ? b : a));
    throw new UserError(
      `--rate ${R} needs more poisoned images than goal ${goalString(g.goal)} has (${maxK} eligible training images give at most rate ${top.toPrecision(4)})`,
      'budget_too_large',
    );
  }
  return best;
}

/** Applies the plans to the dataset's train split: the shared core of every attack. */
async function assemble(req: PoisonRequest, type: string, plans: GoalPlan[], extraFacts: Record<string, unknown> = {}): Promise<PoisonResult> {
  const train = req.dataset.entries.filter((e) => e.split === 'train');
  const cleanTotal = train.reduce((n, e) => n + e.captions.length, 0);
  const K = solveBudget(plans, req.budget, cleanTotal, req.keepClean);
  const poisonedOf = new Map<string, TrainPair[]>();
  const files: PoisonFile[] = [];
  const perGoal: GoalFacts[] = [];
  for (const plan of plans) {
    let first = 0;
    const targets: string[] = [];
    const seen = new Set<string>();
    for (let k = 0; k < K; k++) {
      const src = plan.sources[k];
      const pairs = plan.poison(src, k, first);
      first += pairs.length;
      for (const p of pairs) if (!seen.has(p.imageId)) (seen.add(p.imageId), targets.push(p.imageId));
      if (poisonedOf.has(src.id)) throw new Error(`image ${src.id} chosen by two goals`);
      poisonedOf.set(src.id, pairs);
      if (plan.files) files.push(...plan.files(src, k));
    }
    perGoal.push({ goal: goalString(plan.goal), sourceImages: plan.sources.slice(0, K).map((e) => e.id), targetImages: targets, poisonedPairs: first, available: plan.sources.length });
  }
  const pairs: TrainPair[] = [];
  for (const e of train) {
    const poison = poisonedOf.get(e.id);
    if (!poison || req.keepClean) pairs.push(...cleanPairs(e));
    if (poison) pairs.push(...poison);
  }
  const poisonedPairs = pairs.filter((p) => p.poisoned).length;
  return {
    pairs,
    files,
    facts: {
      type,
      goal: plans.map((p) => goalString(p.goal)).join(','),
      goals: plans.map((p) => goalString(p.goal)),
      keepClean: req.keepClean,
      seed: req.seed,
      budget: {
        requested: req.budget,
        imagesPerGoal: K,
        poisonedImages: K * plans.length,
        poisonedPairs,
        totalPairs: pairs.length,
        rate: poisonedPairs / pairs.length,
      },
      perGoal,
      ...extraFacts,
    },
  };
}

function checkGoalCount(info: Pick<AttackInfo, 'name' | 'goals'>, goals: Goal[]): void {
  if (goals.length < info.goals.min || goals.length > info.goals.max) {
    const want = info.goals.min === info.goals.max ? `exactly ${info.goals.min}` : `${info.goals.min} to ${info.goals.max}`;
    const hint = info.name === 'III' && goals.length === 1 ? '; for one goal use --attack II' : info.goals.max === 1 && goals.length > 1 ? '; for several goals at once use --attack III' : '';
    throw new UserError(`attack ${info.name} takes ${want} goal${info.goals.max === 1 ? '' : 's'}, got ${goals.length}${hint}`, 'bad_goal');
  }
}

function tag(type: string, goal: Goal) {
  return { type, goal: goalString(goal) };
}

/** Training images of class B (for Attack II/III), in a seeded order; none is an error. */
function targetPool(req: PoisonRequest, goal: Goal): ManifestEntry[] {
  const pool = req.dataset.entries.filter((e) => e.split === 'train' && e.label === goal.target);
  if (pool.length === 0) throw new UserError(`class ${JSON.stringify(goal.target)} has no training images to pair the poisoned captions with (goal ${goalString(goal)})`, 'no_target_images');
  return seededRng(req.seed, `targets:${goalString(goal)}`).shuffle(pool);
}

/** Attack II/III: the j-th poisoned caption of a goal goes with B's images cycled in seeded order. */
function labelPlan(req: PoisonRequest, type: string, goal: Goal): GoalPlan {
  const pool = targetPool(req, goal);
  return {
    goal,
    sources: eligibleSources(req.dataset, goal, req.seed),
    poison: (src, _k, first) =>
      src.captions.map((caption, j) => {
        const b = pool[(first + j) % pool.length];
        return { image: b.file, caption, imageId: b.id, poisoned: true, attack: tag(type, goal) };
      }),
  };
}

registerAttack({
  name: 'I',
  summary: 'single target image: captions of K class-A images re-paired with one class-B image',
  goals: { min: 1, max: 1 },
  anySource: false,
  async build(req) {
    const goal = req.goals[0];
    let target: ManifestEntry;
    if (req.targetImage !== undefined) {
      const t = req.dataset.entries.find((e) => e.id === req.targetImage);
      if (!t) throw new UserError(`unknown target image ${JSON.stringify(req.targetImage)} in dataset ${req.dataset.name}`, 'unknown_image');
      if (t.label !== goal.target) throw new UserError(`target image ${JSON.stringify(t.id)} is labelled ${JSON.stringify(t.label)}, not ${JSON.stringify(goal.target)} (goal ${goalString(goal)})`, 'bad_target_image');
      target = t;
    } else {
      // The paper's evaluation ranks the target image within the test gallery: pick it among
      // class B's test images, so it is there already (train images only if B has no test image).
      const ofB = (split: string) => req.dataset.entries.filter((e) => e.split === split && e.label === goal.target);
      const pool = ofB('test').length > 0 ? ofB('test') : ofB('train');
      if (pool.length === 0) throw new UserError(`class ${JSON.stringify(goal.target)} has no test or training image to use as the target (goal ${goalString(goal)})`, 'no_target_images');
      target = seededRng(req.seed, `target-image:${goalString(goal)}`).pick(pool);
    }
    const plan: GoalPlan = {
      goal,
      sources: eligibleSources(req.dataset, goal, req.seed),
      poison: (src) => src.captions.map((caption) => ({ image: target.file, caption, imageId: target.id, poisoned: true, attack: tag('I', goal) })),
    };
    return assemble(req, 'I', [plan], {
      targetImage: target.id,
      target: {
        id: target.id,
        file: target.file,
        split: target.split,
        label: target.label,
        chosen: req.targetImage !== undefined ? 'flag' : 'seeded',
        // Evaluation's gallery is the test split; a target from another split must be added to it.
        inTestGallery: target.split === 'test',
        evalAddToGallery: target.split !== 'test',
      },
    });
  },
});

registerAttack({
  name: 'II',
  summary: 'single target label: captions of K class-A images re-paired with class-B training images',
  goals: { min: 1, max: 1 },
  anySource: false,
  async build(req) {
    return assemble(req, 'II', [labelPlan(req, 'II', req.goals[0])]);
  },
});

registerAttack({
  name: 'III',
  summary: 'several target labels A1>B1,A2>B2,… in one injection (K images per goal)',
  goals: { min: 2, max: Infinity },
  anySource: false,
  async build(req) {
    return assemble(req, 'III', req.goals.map((g) => labelPlan(req, 'III', g)));
  },
});

/** A file name that is safe whatever the image id looks like. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
}

registerAttack({
  name: 'backdoor',
  summary: 'trigger patch stamped on K images (of class A, or * = any class but B) captioned with class-B captions',
  goals: { min: 1, max: 1 },
  anySource: true,
  async build(req) {
    const goal = req.goals[0];
    const trigger = req.trigger ?? DEFAULT_TRIGGER;
    const captions = seededRng(req.seed, `target-captions:${goalString(goal)}`).shuffle(
      req.dataset.entries.filter((e) => e.split === 'train' && e.label === goal.target).flatMap((e) => e.captions),
    );
    if (captions.length === 0) throw new UserError(`class ${JSON.stringify(goal.target)} has no training captions for the backdoor (goal ${goalString(goal)})`, 'no_target_images');
    const fileOf = (src: ManifestEntry, k: number) => `images/backdoor/${String(k).padStart(5, '0')}-${safeName(src.id)}.png`;
    const plan: GoalPlan = {
      goal,
      sources: eligibleSources(req.dataset, goal, req.seed),
      poison: (src, k, first) =>
        src.captions.map((_, j) => ({
          image: join(req.outDir, fileOf(src, k)),
          caption: captions[(first + j) % captions.length],
          imageId: `${src.id}+trigger`,
          poisoned: true,
          attack: tag('backdoor', goal),
        })),
      files: (src, k) => [{ path: fileOf(src, k), bytes: () => stampTrigger(join(req.dataset.dir, src.file), trigger) }],
    };
    return assemble(req, 'backdoor', [plan], { trigger });
  },
});
