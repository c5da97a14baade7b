import type { Command, CommandContext } from './command.js';
import { numberFlag, parseFlags } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { writeDoseReport } from '../trainer/experiment/dose.js';

const DOSE_USAGE = 'poisonlens report dose STUDY_ID [--pool-images N --epochs E] [--json]';
const USAGE = 'poisonlens report dose …';

/** `report dose`: the dose–response analysis of a study that ran (trainer/experiment/dose.ts). */
function runDose(argv: string[], ctx: CommandContext): number {
  const { values, positionals } = parseFlags(argv, { 'pool-images': { type: 'string' }, epochs: { type: 'string' }, json: { type: 'boolean' } }, DOSE_USAGE);
  if (positionals.length !== 1) throw new UserError(`report dose needs one study id\nusage: ${DOSE_USAGE}`, 'bad_flags');
  const poolImages = numberFlag(values, 'pool-images', { integer: true, min: 1 });
  const epochs = numberFlag(values, 'epochs', { min: 0 });
  if ((poolImages === undefined) !== (epochs === undefined)) throw new UserError(`give both --pool-images and --epochs (the reference conditions), or neither\nusage: ${DOSE_USAGE}`, 'bad_flags');
  const ref = poolImages !== undefined ? { poolImages, epochs: epochs! } : undefined;
  const r = writeDoseReport(resolveWorkspace(ctx.workspaceDir), positionals[0], ref);
  const k = r.analysis.k50;
  if (values.json) console.log(JSON.stringify({ html: r.html, json: r.json, points: r.analysis.points, driver: r.analysis.driver, k50: k }, null, 2));
  else {
    console.log(`dose–response of ${positionals[0]}: ${r.analysis.points} attacked runs; the factor that explains Hit@10 best: ${r.analysis.driver ?? '–'}`);
    if (k) console.log(`smallest K with Hit@10 ≥ 0.5 (all class A poisoned, pool ${k.reference.poolImages}, ${k.reference.epochs} epochs): ${k.estimate ?? '> 10,000'} [95% bootstrap ${k.lo ?? '–'}, ${k.hi ?? '–'}]`);
    console.log(r.html);
  }
  return 0;
}

const SUBCOMMANDS: Record<string, Command['run']> = { dose: runDose };

export const reportCommand: Command = {
  name: 'report',
  summary: 'analyses of finished studies: the dose–response fit (`report dose`)',
  usage: `${USAGE}\n  ${DOSE_USAGE}`,
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UserError(`unknown report subcommand ${JSON.stringify(sub ?? '')}; one of: ${Object.keys(SUBCOMMANDS).join(', ')}\nusage: ${USAGE}`, 'bad_flags');
    return run(rest, ctx);
  },
};
