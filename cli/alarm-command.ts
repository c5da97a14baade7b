import type { Command, CommandContext } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { calibrateAlarm, evaluateAlarm } from '../trainer/alarm/alarm-eval.js';

const EVAL_USAGE =
  'poisonlens alarm eval (--models A,B,… | --study ID [--study ID2…]) --name NAME [--dataset D] [--split test] [--reference auto|none|MODEL] ' +
  '[--trusted auto|MODEL[,MODEL…]] [--fpr 0.01] [--calibration-queries 500] [--k 50] [--negatives-per-model 250] [--seed 0] [--json]';
const CALIBRATE_USAGE =
  'poisonlens alarm calibrate --model M [--dataset D] [--split test] [--reference auto|none|MODEL] [--trusted auto|MODEL[,MODEL…]] [--fpr 0.01] [--queries 500] [--k 50] [--force] [--json]';
const USAGE = 'poisonlens alarm eval|calibrate …';

function splitFlag(v: unknown): 'test' | 'val' | 'train' | undefined {
  if (v === undefined) return undefined;
  if (v === 'test' || v === 'val' || v === 'train') return v;
  throw new UserError(`--split must be test, val or train, got ${JSON.stringify(v)}`, 'bad_flags');
}

async function runEval(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      models: { type: 'string' },
      study: { type: 'string', multiple: true },
      name: { type: 'string' },
      dataset: { type: 'string' },
      split: { type: 'string' },
      reference: { type: 'string' },
      trusted: { type: 'string' },
      fpr: { type: 'string' },
      'calibration-queries': { type: 'string' },
      k: { type: 'string' },
      'negatives-per-model': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
    },
    EVAL_USAGE,
  );
  if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${EVAL_USAGE}`, 'bad_flags');
  const name = requireFlag(values, 'name', EVAL_USAGE);
  const models = typeof values.models === 'string' ? values.models.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const { report, dir } = await evaluateAlarm(resolveWorkspace(ctx.workspaceDir), {
    models,
    studies: (values.study as string[] | undefined) ?? [],
    name,
    dataset: values.dataset as string | undefined,
    split: splitFlag(values.split),
    reference: values.reference as string | undefined,
    trusted: values.trusted as string | undefined,
    fpr: numberFlag(values, 'fpr', { min: 0.0001, max: 0.5 }),
    calibrationQueries: numberFlag(values, 'calibration-queries', { min: 10, max: 100_000, integer: true }),
    k: numberFlag(values, 'k', { min: 1, max: 100, integer: true }),
    negativesPerModel: numberFlag(values, 'negatives-per-model', { min: 0, max: 1_000_000, integer: true }),
    seed: numberFlag(values, 'seed', { min: 0, integer: true }),
  });
  if (values.json) {
    const { groups, ...rest } = report;
    console.log(JSON.stringify({ dir, ...rest, groups: Object.fromEntries(Object.entries(groups).map(([g, x]) => [g, { ...x, roc: undefined }])) }, null, 2));
    return 0;
  }
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(3));
  for (const [g, x] of Object.entries(report.groups)) {
    console.log(
      `${g === 'overall' ? 'overall' : `Attack ${g}`}: ${x.positives} positives, ${x.negatives} negatives — AUROC ${f(x.auroc)}, TPR at 5% FPR ${f(x.tprAt5)}; ` +
        `calibrated threshold TPR ${f(x.calibrated.tpr)} / FPR ${f(x.calibrated.fpr)}; hit-only (${x.hit.positives}) AUROC ${f(x.hit.auroc)}, TPR at 5% ${f(x.hit.tprAt5)}`,
    );
  }
  for (const n of report.notes) console.log(`note: ${n}`);
  console.log(`report: ${dir}/alarm.html (alarm.json beside it)`);
  return 0;
}

async function runCalibrate(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      model: { type: 'string' },
      dataset: { type: 'string' },
      split: { type: 'string' },
      reference: { type: 'string' },
      trusted: { type: 'string' },
      fpr: { type: 'string' },
      queries: { type: 'string' },
      k: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    CALIBRATE_USAGE,
  );
  if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${CALIBRATE_USAGE}`, 'bad_flags');
  const r = await calibrateAlarm(resolveWorkspace(ctx.workspaceDir), {
    model: requireFlag(values, 'model', CALIBRATE_USAGE),
    dataset: values.dataset as string | undefined,
    split: splitFlag(values.split),
    reference: values.reference as string | undefined,
    trusted: values.trusted as string | undefined,
    fpr: numberFlag(values, 'fpr', { min: 0.0001, max: 0.5 }),
    queries: numberFlag(values, 'queries', { min: 10, max: 100_000, integer: true }),
    k: numberFlag(values, 'k', { min: 1, max: 100, integer: true }),
    force: Boolean(values.force),
    log: values.json ? undefined : (l) => console.error(l),
  });
  const { values: _v, ...rec } = r.record;
  if (values.json) {
    console.log(JSON.stringify({ path: r.path, reused: r.reused, ...rec }, null, 2));
    return 0;
  }
  console.log(`${r.reused ? 'reused' : 'wrote'} ${r.path}: reference ${rec.reference.id}, trusted ${rec.trusted.map((t) => t.id).join(',')}, ${rec.sample.used} queries, fpr ${rec.fpr}`);
  console.log(`scales ${JSON.stringify(rec.scales)}; thresholds ${JSON.stringify(rec.thresholds)}; flagged on the sample ${JSON.stringify(rec.flaggedRate)}`);
  for (const n of rec.notes) console.log(`note: ${n}`);
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[], ctx: CommandContext) => Promise<number>> = { eval: runEval, calibrate: runCalibrate };

export const alarmCommand: Command = {
  name: 'alarm',
  summary: 'the per-query poisoning alarm: calibrate it on a trusted model, measure it (ROC, AUROC, TPR at 5% FPR) over poisoned and clean models',
  usage: `${USAGE}\n  ${EVAL_USAGE}\n  ${CALIBRATE_USAGE}`,
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UserError(`unknown alarm subcommand ${JSON.stringify(sub ?? '')}; one of: ${Object.keys(SUBCOMMANDS).join(', ')}\nusage: ${USAGE}`, 'bad_flags');
    return run(rest, ctx);
  },
};
