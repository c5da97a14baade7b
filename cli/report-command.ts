import type { Command, CommandContext } from './command.js';
import { numberFlag, parseFlags } from './args.js';
import { NotFoundError, UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { writeDoseReport } from '../trainer/experiment/dose.js';
import { tableMarkdown } from '../trainer/experiment/cells.js';
import { loadReport } from '../trainer/experiment/runner.js';
import { summaryRows, writePaperReport } from '../trainer/experiment/paper-report.js';

const DOSE_USAGE = 'poisonlens report dose STUDY_ID [--pool-images N --epochs E] [--json]';
const PAPER_USAGE = 'poisonlens report paper [--json]';
const TABLES_USAGE = 'poisonlens report tables STUDY_ID [--table ID]';
const USAGE = 'poisonlens report dose|paper|tables …';

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

/** `report paper`: the paper's tables and figures beside the finished studies (trainer/experiment/paper-report.ts). */
function runPaper(argv: string[], ctx: CommandContext): number {
  const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, PAPER_USAGE);
  if (positionals.length) throw new UserError(`report paper takes no arguments\nusage: ${PAPER_USAGE}`, 'bad_flags');
  const r = writePaperReport(resolveWorkspace(ctx.workspaceDir));
  if (values.json) {
    console.log(JSON.stringify({ html: r.html, json: r.json, counts: r.report.counts, items: summaryRows(r.report.items) }, null, 2));
    return 0;
  }
  const c = r.report.counts;
  console.log(`paper report: ${c.reproduced} reproduced, ${c['same direction']} same direction, ${c['not reproduced']} not reproduced, ${c.missing} missing, ${c['no verdict']} context`);
  for (const row of summaryRows(r.report.items)) console.log(`  ${row.item.padEnd(60).slice(0, 60)}  ${row.verdict.padEnd(15)} ${row.verdict === 'reproduced' ? '' : row.reason}`);
  const missing = r.report.studies.filter((s) => !s.present);
  if (missing.length) console.log(`studies not run yet: ${missing.map((s) => s.id).join(', ')} (poisonlens experiment experiments/<id>.json)`);
  console.log(r.html);
  return 0;
}

/** `report tables`: a finished study's tables as markdown (what the README quotes). */
function runTables(argv: string[], ctx: CommandContext): number {
  const { values, positionals } = parseFlags(argv, { table: { type: 'string' } }, TABLES_USAGE);
  if (positionals.length !== 1) throw new UserError(`report tables needs one study id\nusage: ${TABLES_USAGE}`, 'bad_flags');
  const report = loadReport(resolveWorkspace(ctx.workspaceDir), positionals[0]);
  if (!report) throw new NotFoundError(`no report for study ${JSON.stringify(positionals[0])} (run \`poisonlens experiment\` first)`, 'report_not_found');
  const tables = values.table ? report.tables.filter((t) => t.id === values.table) : report.tables;
  if (tables.length === 0) throw new UserError(`study ${report.id} has no table ${JSON.stringify(values.table)}; it has: ${report.tables.map((t) => t.id).join(', ')}`, 'bad_flags');
  console.log(`Study \`${report.id}\` (workspace/reports/${report.id}/report.json), seeds ${report.study.seeds.join(', ')}; mean [95% t-interval] over seeds.\n`);
  console.log(tables.map(tableMarkdown).join('\n\n'));
  return 0;
}

const SUBCOMMANDS: Record<string, Command['run']> = { dose: runDose, paper: runPaper, tables: runTables };

export const reportCommand: Command = {
  name: 'report',
  summary: 'analyses of finished studies: the dose–response fit (`report dose`), the paper report (`report paper`), a study’s tables as markdown (`report tables`)',
  usage: `${USAGE}\n  ${DOSE_USAGE}\n  ${PAPER_USAGE}`,
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UserError(`unknown report subcommand ${JSON.stringify(sub ?? '')}; one of: ${Object.keys(SUBCOMMANDS).join(', ')}\nusage: ${USAGE}`, 'bad_flags');
    return run(rest, ctx);
  },
};
