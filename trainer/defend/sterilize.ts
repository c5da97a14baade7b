import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openCatalog } from '../../core/catalog.js';
import { UserError } from '../../core/errors.js';
import { checkName, type Workspace } from '../../core/workspace.js';
import { loadTrainset, type Trainset } from '../../data/trainset.js';
import { evaluate, EVAL_ATTACKS, type EvalAttack, type EvalResult } from '../../eval/evaluate.js';
import { indexerEvalBackend } from '../../eval/indexer-backend.js';
import { loadModelPackage, modelDir, readModelCard, readModelPackage, writeModelCard, type ModelPackage } from '../../indexer/package.js';
import { registerModel } from '../models.js';
import { trainModel, type Device } from '../train.js';

/**
 * The paper's post-training defence (Yang et al. 2023, §6.2): fine-tune the poisoned model on
 * clean pairs and watch the attack fade (its Figure 9: Hit@10 0.936 → 0.032 by step 50; Table 8
 * sweeps lr 1e-3, 1e-4, 1e-5). The output is a model package of kind `defended` whose model.json
 * names the defence, its parameters and the measured curve.
 *
 * Measuring every K steps: the training runs in segments of K steps, each fine-tuning the previous
 * segment's package (`train --from`), and each segment's package is evaluated with the same
 * evaluation as `poisonlens eval`. Why segments rather than intermediate checkpoints: every point
 * of the curve is then a real, exported model package scored by the one evaluation path (ONNX +
 * index), with no second export or evaluation code in the engine; the cost is that each segment
 * restarts the optimiser's moments and the recipe's learning-rate schedule (warm restarts), so the
 * procedure is recorded as part of the defence (`segmentSteps`) — the same N and K always give the
 * same model, and K = N (no --eval-every) is one plain fine-tune. Each segment uses seed + its
 * index, so segments draw different batches rather than the first K batches of one epoch again.
 * Intermediate packages are removed once the next segment is trained (with their indexes).
 */

export interface SterilizeOptions {
  model: string;
  trainset: string;
  steps: number;
  name: string;
  lr?: number;
  /** Evaluate every K steps (default: only at the start and the end). */
  evalEvery?: number;
  batch?: number;
  seed?: number;
  recipe?: string;
  threads?: number;
  bf16?: boolean;
  /** Where the fine-tuning segments run (trainModel's device/nproc; default: POISONLENS_DEVICE/NPROC, else auto). */
  device?: Device;
  nproc?: number;
  /** Evaluation: dataset (default the model's), attack type and goal (default the model's attack). */
  dataset?: string;
  attack?: EvalAttack;
  goal?: string;
  /** Skip the evaluations (no curve). */
  noEval?: boolean;
  overwrite?: boolean;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface CurvePoint {
  step: number;
  /** step × batch / clean pairs: epochs of the clean training set seen (per-epoch points: --eval-every = pairs / batch). */
  epoch: number | null;
  hit: Record<string, number | null>;
  meanMinRank: number | null;
  baselineHit10: number | null;
  utility: { ir: Record<string, number | null>; tr: Record<string, number | null> } | null;
}

export interface SterilizeResult {
  pkg: ModelPackage;
  curve: CurvePoint[];
}

function point(step: number, r: EvalResult): CurvePoint {
  // Several goals (attack III): the mean over goals.
  const ks = Object.keys(r.goals[0]?.model.hit ?? {});
  const avg = (f: (g: EvalResult['goals'][number]) => number | null) => {
    const vs = r.goals.map(f).filter((v): v is number => v !== null);
    return vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null;
  };
  const hit: Record<string, number | null> = {};
  for (const k of ks) hit[k] = avg((g) => g.model.hit[k]);
  return {
    step,
    epoch: null,
    hit,
    meanMinRank: avg((g) => g.model.minRank.mean),
    baselineHit10: avg((g) => g.baseline.hit['10'] ?? null),
    utility: r.utility ? { ir: r.utility.model.ir, tr: r.utility.model.tr } : null,
  };
}

/** `poisonlens defend sterilize`: check, fine-tune in segments measuring the attack after each, then record the curve. */
export async function sterilizeModel(ws: Workspace, o: SterilizeOptions): Promise<SterilizeResult> {
  const log = o.log ?? ((l: string) => (o.quiet ? undefined : process.stderr.write(l + '\n')));
  checkSterilizeFlags(o);
  const { victim, ts, target } = resolveSterilization(ws, o);
  const bounds = segmentBounds(o.steps, o.evalEvery);
  const defence = defenceRecord(o, ts.name, ts.card.pairsSha256, bounds, target);
  const measure = (model: string, step: number) => measureAttack(ws, target, model, step, log);

  const curve: CurvePoint[] = [];
  if (target.evaluating) curve.push(await measure(o.model, 0));
  await trainSegments(ws, o, bounds, {
    finalCard: (from) => finalCard(o, victim.card, defence, from),
    segmentDefence: (segment) => ({ ...defence, segment }),
    afterSegment: async (id, done) => {
      if (target.evaluating) curve.push(await measure(id, done));
    },
    log,
  });
  if (target.evaluating) curve.push(await measure(o.name, o.steps));
  return recordCurve(ws, o.name, curve, ts.pairs.length);
}

/** The flags' own checks, before anything is read (so a bad flag fails fast with its own message). */
function checkSterilizeFlags(o: SterilizeOptions): void {
  checkName(o.name, 'model name');
  if (o.name === o.model) throw new UserError('--name must differ from --model (sterilisation writes a new package)', 'bad_flags');
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new UserError(`--steps must be a whole number ≥ 1, got ${o.steps}`, 'bad_flags');
  if (o.evalEvery !== undefined && (!Number.isInteger(o.evalEvery) || o.evalEvery < 1)) throw new UserError(`--eval-every must be a whole number ≥ 1, got ${o.evalEvery}`, 'bad_flags');
  if (o.attack !== undefined && !EVAL_ATTACKS.includes(o.attack)) throw new UserError(`--attack must be one of ${EVAL_ATTACKS.join(', ')}, got ${JSON.stringify(o.attack)}`, 'bad_flags');
}

/** What the curve measures: the attack (the flags', else the one the poisoned model records), on which dataset. */
interface AttackTarget {
  evaluating: boolean;
  attackType: EvalAttack | undefined;
  goal: string | undefined;
  dataset: string;
  targetImage: string | undefined;
}

/**
 * Loads the poisoned model and the clean training set, refuses what cannot be sterilised (a
 * training set with poisons, an existing output without --overwrite, nothing to measure) and
 * settles the attack the curve measures.
 */
function resolveSterilization(ws: Workspace, o: SterilizeOptions): { victim: ModelPackage; ts: Trainset; target: AttackTarget } {
  const victim = loadModelPackage(ws, o.model);
  const ts = loadTrainset(ws, o.trainset);
  if (ts.card.counts.poisonedPairs > 0) {
    throw new UserError(`training set ${o.trainset} records ${ts.card.counts.poisonedPairs} poisoned pairs: sterilisation fine-tunes on clean data`, 'bad_trainset');
  }
  if (existsSync(modelDir(ws, o.name)) && !o.overwrite) throw new UserError(`model ${o.name} already exists (${modelDir(ws, o.name)}); pick another --name or pass --overwrite`, 'model_exists');
  const recordedAttack = victim.card.attack ?? null;
  const attackType = (o.attack ?? (recordedAttack?.type && (EVAL_ATTACKS as readonly string[]).includes(recordedAttack.type) ? recordedAttack.type : undefined)) as EvalAttack | undefined;
  const goal = o.goal ?? recordedAttack?.goal;
  const dataset = o.dataset ?? (victim.card.dataset?.name || ts.card.dataset.name);
  const targetImage = typeof recordedAttack?.targetImage === 'string' ? recordedAttack.targetImage : recordedAttack?.targetImage?.id;
  const evaluating = !o.noEval;
  if (evaluating && (!attackType || !goal)) {
    throw new UserError(`model ${o.model} records no attack to measure: give --attack and --goal (or --no-eval)`, 'bad_flags');
  }
  return { victim, ts, target: { evaluating, attackType, goal, dataset, targetImage } };
}

/** The step at which each segment ends: every K (= --eval-every, at most N) steps, and N. */
function segmentBounds(steps: number, evalEvery: number | undefined): number[] {
  const K = Math.min(evalEvery ?? steps, steps);
  const bounds: number[] = [];
  for (let s = K; s < steps; s += K) bounds.push(s);
  bounds.push(steps);
  return bounds;
}

/** model.json's `defence` record: the procedure (segments included) that makes the same N and K give the same model. */
function defenceRecord(o: SterilizeOptions, trainset: string, pairsSha256: string, bounds: number[], target: AttackTarget) {
  const { attackType, goal, targetImage } = target;
  return {
    type: 'sterilize',
    from: o.model,
    trainset: { name: trainset, sha256: pairsSha256 },
    steps: o.steps,
    lr: o.lr ?? null,
    batch: o.batch ?? null,
    recipe: o.recipe ?? 'finetune',
    seed: o.seed ?? 0,
    segmentSteps: bounds[0], // K: the first segment is one full segment (or all N steps)
    segments: bounds.length,
    attack: attackType ? { type: attackType, goal: goal ?? null, ...(targetImage ? { targetImage } : {}) } : null,
  };
}

/**
 * The final package's provenance, which the engine writes into its model.json (--card): parent
 * is the poisoned model (not a removed segment); `attack` is the poisoned parent's, inherited
 * (the clean training set carries none), so that evaluation, search target marks and the compare
 * view default to the attack this model was defended against; the defence with its parameters
 * (lr and batch as the engine runs them: null lets it record the recipe's) and the parent the
 * engine itself saw (the previous segment, when there were several).
 */
function finalCard(o: SterilizeOptions, victimCard: ModelPackage['card'], defence: ReturnType<typeof defenceRecord>, from: string) {
  const recordedAttack = victimCard.attack ?? null;
  const engineParent = from === o.model ? victimCard.id : from;
  return {
    parent: o.model,
    attack: recordedAttack ? { ...recordedAttack, inheritedFrom: o.model } : null,
    defence: { ...defence, lr: o.lr ?? null, batch: o.batch ?? null, lastSegmentParent: engineParent === o.model ? null : engineParent },
  };
}

/** One point of the curve: `poisonlens eval`'s own evaluation (exact ranks, utility) of one package. */
async function measureAttack(ws: Workspace, target: AttackTarget, model: string, step: number, log: (line: string) => void): Promise<CurvePoint> {
  const { attackType, goal, dataset, targetImage } = target;
  const r = await evaluate(ws, {
    model,
    dataset,
    attack: attackType!,
    goal,
    ...(targetImage && attackType === 'I' ? { targetImage } : {}),
    mode: 'exact',
    cleanModel: null,
    drift: false,
    perQuery: false,
    utility: true,
  }, { backend: indexerEvalBackend(ws) });
  const p = point(step, r);
  log(`sterilize: step ${step}: Hit@10 ${p.hit['10']?.toFixed(3) ?? '–'} (random captions ${p.baselineHit10?.toFixed(3) ?? '–'}), mean MinRank ${p.meanMinRank?.toFixed(1) ?? '–'}, IR R@10 ${p.utility?.ir['10']?.toFixed(3) ?? '–'}`);
  return p;
}

interface SegmentHooks {
  /** The final package's card, given the package its segment starts from. */
  finalCard: (from: string) => ReturnType<typeof finalCard>;
  /** The defence record of an intermediate segment (1-based). */
  segmentDefence: (segment: number) => Record<string, unknown>;
  /** Called after each intermediate segment is trained, with its package and the steps done. */
  afterSegment: (id: string, done: number) => Promise<void>;
  log: (line: string) => void;
}

/**
 * Trains the segments, each fine-tuning the previous one's package with seed + its index; the
 * last one is the output package. An intermediate package is removed (with its index and run
 * folder) once the next segment is trained from it, or when a segment fails.
 */
async function trainSegments(ws: Workspace, o: SterilizeOptions, bounds: number[], hooks: SegmentHooks): Promise<void> {
  const baseSeed = o.seed ?? 0;
  let from = o.model;
  let prevIntermediate: string | null = null;
  let done = 0;
  try {
    for (let j = 0; j < bounds.length; j++) {
      const last = j === bounds.length - 1;
      const id = last ? o.name : `${o.name}.step-${bounds[j]}`;
      const n = bounds[j] - done;
      if (bounds.length > 1) hooks.log(`sterilize: segment ${j + 1}/${bounds.length}: steps ${done + 1}–${bounds[j]} from ${from}`);
      await trainModel(ws, {
        trainset: o.trainset,
        name: id,
        from,
        steps: n,
        recipe: o.recipe ?? 'finetune',
        ...(o.lr !== undefined ? { lr: o.lr } : {}),
        ...(o.batch !== undefined ? { batch: o.batch } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(o.bf16 !== undefined ? { bf16: o.bf16 } : {}),
        ...(o.device !== undefined ? { device: o.device } : {}),
        ...(o.nproc !== undefined ? { nproc: o.nproc } : {}),
        seed: baseSeed + j,
        valImages: 0,
        kind: 'defended',
        ...(last ? { card: hooks.finalCard(from) } : { defence: hooks.segmentDefence(j + 1) }),
        overwrite: existsSync(modelDir(ws, id)),
        register: last,
        quiet: o.quiet,
      });
      done = bounds[j];
      if (prevIntermediate) dropIntermediate(ws, prevIntermediate);
      prevIntermediate = last ? null : id;
      if (!last) await hooks.afterSegment(id, done);
      from = id;
    }
  } catch (err) {
    if (prevIntermediate) dropIntermediate(ws, prevIntermediate);
    throw err;
  }
}

/** Removes an intermediate segment's package, index and run folder. */
function dropIntermediate(ws: Workspace, id: string): void {
  rmSync(modelDir(ws, id), { recursive: true, force: true });
  rmSync(join(ws.indexes, id), { recursive: true, force: true });
  rmSync(join(ws.root, 'runs', id), { recursive: true, force: true });
}

/**
 * The curve's last point measures the finished package, so the curve (each point with its epoch,
 * step × batch / clean pairs) joins its card afterwards, through model.json's one writer; the
 * package is registered again with it.
 */
function recordCurve(ws: Workspace, name: string, curve: CurvePoint[], cleanPairs: number): SterilizeResult {
  const dir = modelDir(ws, name);
  const card = readModelCard(dir);
  const batch = card.trainer?.batch;
  if (typeof batch === 'number' && batch > 0) for (const p of curve) p.epoch = Math.round(((p.step * batch) / cleanPairs) * 1e4) / 1e4;
  writeModelCard(dir, { ...card, defence: { ...(card.defence ?? {}), curve } });
  const pkg = readModelPackage(dir);
  const db = openCatalog(ws.catalogPath);
  try {
    registerModel(db, pkg);
  } finally {
    db.close();
  }
  return { pkg, curve };
}
