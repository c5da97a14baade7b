import type { Command } from './command.js';
import { numberFlag, parseFlags } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { runExperiment } from '../trainer/experiment/experiment.js';
import { applyDeviceFlags } from './train-command.js';

const USAGE = 'poisonlens experiment FILE.json [--dry-run] [--only STEP] [--seeds 0,1,…] [--threads N] [--jobs N] [--device auto|cpu|cuda|mps] [--nproc N] [--quiet] [--json]';

export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'run a study file: datasets → training sets → models → evaluations → report (cached by content)',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      { 'dry-run': { type: 'boolean' }, only: { type: 'string' }, seeds: { type: 'string' }, threads: { type: 'string' }, jobs: { type: 'string' }, device: { type: 'string' }, nproc: { type: 'string' }, quiet: { type: 'boolean' }, json: { type: 'boolean' } },
      USAGE,
    );
    if (positionals.length !== 1) throw new UserError(`${positionals.length ? 'one study file at a time' : 'missing the study file'}\nusage: ${USAGE}`, 'bad_flags');
    applyDeviceFlags(values);
    let seeds: number[] | undefined;
    if (values.seeds !== undefined) {
      seeds = String(values.seeds).split(',').map((x) => Number(x.trim()));
      if (seeds.some((x) => !Number.isInteger(x) || x < 0) || new Set(seeds).size !== seeds.length) {
        throw new UserError(`--seeds must be a comma-separated list of distinct whole numbers ≥ 0, got ${JSON.stringify(values.seeds)}`, 'bad_flags');
      }
    }
    const r = await runExperiment(resolveWorkspace(ctx.workspaceDir), positionals[0], {
      dryRun: Boolean(values['dry-run']),
      only: values.only as string | undefined,
      seeds,
      threads: numberFlag(values, 'threads', { min: 1, max: 256, integer: true }),
      jobs: numberFlag(values, 'jobs', { min: 1, max: 64, integer: true }),
      quiet: Boolean(values.quiet),
    });
    if (values.json) {
      console.log(JSON.stringify({ id: r.id, dryRun: r.dryRun, reportDir: r.reportDir, reportMissing: r.reportMissing, wallSeconds: r.wallSeconds, steps: r.steps }, null, 2));
    } else if (!r.dryRun) {
      const built = r.steps.filter((s) => s.state === 'built').length;
      console.log(`${r.id}: ${r.steps.length} steps (${built} built, ${r.steps.length - built} reused) in ${Math.round(r.wallSeconds)}s` + (r.report ? `; report ${r.reportDir}/report.html` : `; no report: ${r.reportMissing}`));
    }
    return 0;
  },
};
