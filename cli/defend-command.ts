import type { Command, CommandContext } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { checkName, resolveWorkspace } from '../core/workspace.js';
import { EVAL_ATTACKS, type EvalAttack } from '../eval/evaluate.js';
import { filterTrainset, type FilterResult } from '../trainer/defend/filter.js';
import { DETECT_SCORES, detectTrainset, type DetectScore } from '../trainer/defend/detect.js';
import { sterilizeModel } from '../trainer/defend/sterilize.js';
import type { Device } from '../trainer/training-settings.js';
import { readSettingFlag } from './train-flags.js';
import { writeDefenceReport } from '../trainer/defend/defence-report.js';
// Registers the defence variant kinds (filter, sterilize, safeclip) with the studies runner.
import '../trainer/defend/defence-variants.js';

const FILTER_USAGE =
  'poisonlens defend filter --trainset T --reference MODEL --gamma G|auto --name T2 [--calibration-sample N] [--quantile Q] [--seed S] [--overwrite] [--json]';
const SAFECLIP_USAGE = 'poisonlens defend safeclip --trainset T --reference MODEL --name T2 [--safe-probability P] [--overwrite] [--json]';
const STERILIZE_USAGE =
  'poisonlens defend sterilize --model M --trainset CLEAN_T --steps N --name M2 [--lr LR] [--eval-every K] [--batch B] [--seed S] [--recipe R] ' +
  '[--threads N] [--no-bf16] [--device auto|cpu|cuda|mps] [--nproc N] [--dataset D] [--attack I|II|III|backdoor] [--goal A>B] [--no-eval] [--overwrite] [--json]';
const REPORT_USAGE = 'poisonlens defend report STUDY_ID [--json]';
const DETECT_USAGE =
  'poisonlens defend detect --trainset T --reference MODEL --name T2 [--score slof|kdist] [--k 16] [--gamma G|auto] [--calibration-sample N] [--quantile Q] [--seed S] [--overwrite] [--json]';
const USAGE = 'poisonlens defend filter|safeclip|detect|sterilize|report …';

function noPositionals(positionals: string[], usage: string): void {
  if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${usage}`, 'bad_flags');
}

function printFilter(r: FilterResult, json: boolean): void {
  const m = r.report.metrics;
  if (json) {
    console.log(JSON.stringify({ name: r.trainset.name, dir: r.trainset.dir, report: r.reportPath, gamma: r.report.gamma, gammaSource: { ...r.report.gammaSource, sample: undefined }, metrics: m, auc: r.report.roc?.auc ?? null }, null, 2));
    return;
  }
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(3));
  console.log(`wrote training set ${r.trainset.name}: kept ${m.kept} of ${m.pairs} pairs at γ ${r.report.gamma.toFixed(4)} (${r.trainset.dir})`);
  if (m.poisoned !== null) {
    console.log(`poisoned pairs dropped ${m.poisonedDropped}/${m.poisoned} (recall ${f(m.recall)}), precision ${f(m.precision)}, clean pairs lost ${m.cleanDropped} (${f(m.cleanLost)}), ROC AUC ${f(r.report.roc?.auc ?? null)}`);
  }
  console.log(`flag report: ${r.reportPath}`);
}

async function runFilter(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      trainset: { type: 'string' },
      reference: { type: 'string' },
      gamma: { type: 'string' },
      name: { type: 'string' },
      'calibration-sample': { type: 'string' },
      quantile: { type: 'string' },
      seed: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    FILTER_USAGE,
  );
  noPositionals(positionals, FILTER_USAGE);
  const g = requireFlag(values, 'gamma', FILTER_USAGE);
  const gamma = g === 'auto' ? 'auto' : numberFlag(values, 'gamma', { min: 0, max: 2 })!;
  if (gamma !== 'auto' && (values['calibration-sample'] !== undefined || values.quantile !== undefined)) {
    throw new UserError('--calibration-sample and --quantile go with --gamma auto', 'bad_flags');
  }
  const r = await filterTrainset(resolveWorkspace(ctx.workspaceDir), {
    trainset: requireFlag(values, 'trainset', FILTER_USAGE),
    reference: requireFlag(values, 'reference', FILTER_USAGE),
    name: checkName(requireFlag(values, 'name', FILTER_USAGE), 'training set name'),
    gamma,
    calibrationSample: numberFlag(values, 'calibration-sample', { min: 1, max: 10_000_000, integer: true }),
    quantile: numberFlag(values, 'quantile', { min: 1e-9, max: 1 }),
    seed: numberFlag(values, 'seed', { min: 0, max: 0xffffffff, integer: true }),
    overwrite: Boolean(values.overwrite),
  });
  printFilter(r, Boolean(values.json));
  return 0;
}

async function runSafeclip(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      trainset: { type: 'string' },
      reference: { type: 'string' },
      name: { type: 'string' },
      'safe-probability': { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    SAFECLIP_USAGE,
  );
  noPositionals(positionals, SAFECLIP_USAGE);
  const r = await filterTrainset(resolveWorkspace(ctx.workspaceDir), {
    trainset: requireFlag(values, 'trainset', SAFECLIP_USAGE),
    reference: requireFlag(values, 'reference', SAFECLIP_USAGE),
    name: checkName(requireFlag(values, 'name', SAFECLIP_USAGE), 'training set name'),
    gamma: 'gmm',
    safeProbability: numberFlag(values, 'safe-probability', { min: 1e-6, max: 1 - 1e-6 }),
    overwrite: Boolean(values.overwrite),
  });
  printFilter(r, Boolean(values.json));
  return 0;
}

async function runSterilize(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      model: { type: 'string' },
      trainset: { type: 'string' },
      steps: { type: 'string' },
      name: { type: 'string' },
      lr: { type: 'string' },
      'eval-every': { type: 'string' },
      batch: { type: 'string' },
      seed: { type: 'string' },
      recipe: { type: 'string' },
      threads: { type: 'string' },
      'no-bf16': { type: 'boolean' },
      device: { type: 'string' },
      nproc: { type: 'string' },
      dataset: { type: 'string' },
      attack: { type: 'string' },
      goal: { type: 'string' },
      'no-eval': { type: 'boolean' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    STERILIZE_USAGE,
  );
  noPositionals(positionals, STERILIZE_USAGE);
  const attack = values.attack as string | undefined;
  if (attack !== undefined && !(EVAL_ATTACKS as readonly string[]).includes(attack)) throw new UserError(`--attack must be one of ${EVAL_ATTACKS.join(', ')}, got ${JSON.stringify(attack)}`, 'bad_flags');
  // The training settings' flags are read as `train` reads them (the engine's table: cli/train-flags.ts).
  const steps = readSettingFlag(values, 'steps') as number | undefined;
  if (steps === undefined) throw new UserError(`missing --steps\nusage: ${STERILIZE_USAGE}`, 'bad_flags');
  const r = await sterilizeModel(resolveWorkspace(ctx.workspaceDir), {
    model: requireFlag(values, 'model', STERILIZE_USAGE),
    trainset: requireFlag(values, 'trainset', STERILIZE_USAGE),
    name: checkName(requireFlag(values, 'name', STERILIZE_USAGE), 'model name'),
    steps,
    lr: readSettingFlag(values, 'lr') as number | undefined,
    evalEvery: numberFlag(values, 'eval-every', { min: 1, max: 10_000_000, integer: true }),
    batch: readSettingFlag(values, 'batch') as number | undefined,
    seed: readSettingFlag(values, 'seed') as number | undefined,
    threads: readSettingFlag(values, 'threads') as number | undefined,
    recipe: values.recipe as string | undefined,
    ...(values['no-bf16'] ? { bf16: false } : {}),
    device: readSettingFlag(values, 'device') as Device | undefined,
    nproc: readSettingFlag(values, 'nproc') as number | undefined,
    dataset: values.dataset as string | undefined,
    attack: attack as EvalAttack | undefined,
    goal: values.goal as string | undefined,
    noEval: Boolean(values['no-eval']),
    overwrite: Boolean(values.overwrite),
  });
  if (values.json) console.log(JSON.stringify({ id: r.pkg.id, dir: r.pkg.dir, kind: r.pkg.card.kind, defence: r.pkg.card.defence }, null, 2));
  else {
    console.log(`${r.pkg.id}\t${r.pkg.card.kind}\t${r.pkg.dir}`);
    for (const p of r.curve) console.log(`step ${String(p.step).padStart(6)}  Hit@10 ${p.hit['10']?.toFixed(3) ?? '–'}  mean MinRank ${p.meanMinRank?.toFixed(1) ?? '–'}  IR R@10 ${p.utility?.ir['10']?.toFixed(3) ?? '–'}`);
  }
  return 0;
}

function runReport(argv: string[], ctx: CommandContext): number {
  const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, REPORT_USAGE);
  if (positionals.length !== 1) throw new UserError(`defend report needs one study id\nusage: ${REPORT_USAGE}`, 'bad_flags');
  const r = writeDefenceReport(resolveWorkspace(ctx.workspaceDir), positionals[0]);
  if (values.json) console.log(JSON.stringify({ html: r.html, json: r.json, filters: r.summary.filters.length, sterilisation: r.summary.sterilisation.length }, null, 2));
  else console.log(`defence figures of ${positionals[0]}: ${r.summary.filters.length} filter run(s), ${r.summary.sterilisation.length} sterilisation group(s) → ${r.html}`);
  return 0;
}

async function runDetect(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      trainset: { type: 'string' },
      reference: { type: 'string' },
      name: { type: 'string' },
      score: { type: 'string' },
      k: { type: 'string' },
      gamma: { type: 'string' },
      'calibration-sample': { type: 'string' },
      quantile: { type: 'string' },
      seed: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    DETECT_USAGE,
  );
  noPositionals(positionals, DETECT_USAGE);
  const g = (values.gamma as string | undefined) ?? 'auto';
  const gamma = g === 'auto' ? 'auto' : numberFlag(values, 'gamma', { min: 0 })!;
  const score = (values.score as string | undefined) ?? 'slof';
  if (!(DETECT_SCORES as readonly string[]).includes(score)) throw new UserError(`--score must be one of ${DETECT_SCORES.join(', ')}, got ${JSON.stringify(score)}`, 'bad_flags');
  const r = await detectTrainset(resolveWorkspace(ctx.workspaceDir), {
    trainset: requireFlag(values, 'trainset', DETECT_USAGE),
    reference: requireFlag(values, 'reference', DETECT_USAGE),
    name: checkName(requireFlag(values, 'name', DETECT_USAGE), 'training set name'),
    gamma,
    score: score as DetectScore,
    k: numberFlag(values, 'k', { min: 1, max: 1000, integer: true }),
    calibrationSample: numberFlag(values, 'calibration-sample', { min: 1, max: 10_000_000, integer: true }),
    quantile: numberFlag(values, 'quantile', { min: 1e-9, max: 1 }),
    seed: numberFlag(values, 'seed', { min: 0, max: 0xffffffff, integer: true }),
    overwrite: Boolean(values.overwrite),
  });
  printFilter(r, Boolean(values.json));
  return 0;
}

const SUBCOMMANDS: Record<string, Command['run']> = { filter: runFilter, safeclip: runSafeclip, detect: runDetect, sterilize: runSterilize, report: runReport };

export const defendCommand: Command = {
  name: 'defend',
  summary: 'defences: filter / safeclip-split a training set with a reference model, sterilise a poisoned model, a study’s defence figures',
  usage: `${USAGE}\n  ${FILTER_USAGE}\n  ${SAFECLIP_USAGE}\n  ${DETECT_USAGE}\n  ${STERILIZE_USAGE}\n  ${REPORT_USAGE}`,
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UserError(`unknown defend subcommand ${JSON.stringify(sub ?? '')}; one of: ${Object.keys(SUBCOMMANDS).join(', ')}\nusage: ${USAGE}`, 'bad_flags');
    return run(rest, ctx);
  },
};
