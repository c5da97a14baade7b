import type { Command } from './command.js';
import { parseFlags } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { listDatasets, describeDataset } from '../data/listing.js';
import { runScenes } from './data-scenes-command.js';
import { runDataImport } from './data-import-command.js';

const USAGE = 'poisonlens data scenes|import|list|show …';

/** `data` subcommands; each maps to a module of its own. */
const SUBCOMMANDS: Record<string, Command['run']> = {
  scenes: runScenes,
  import: runDataImport,
  list: (argv, ctx) => {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } }, 'poisonlens data list [--json]');
    const rows = listDatasets(resolveWorkspace(ctx.workspaceDir));
    if (values.json) console.log(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) console.log('no datasets yet; try `poisonlens data scenes --name scenes`');
    else for (const r of rows) console.log(`${r.name.padEnd(20)} ${r.source.padEnd(10)} train ${r.counts.train}  val ${r.counts.val}  test ${r.counts.test}  classes ${r.classes.length}`);
    return 0;
  },
  show: (argv, ctx) => {
    const usage = 'poisonlens data show NAME [--json]';
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, usage);
    if (positionals.length !== 1) throw new UserError(`data show needs one dataset name\nusage: ${usage}`, 'bad_flags');
    const d = describeDataset(resolveWorkspace(ctx.workspaceDir), positionals[0]);
    if (values.json) console.log(JSON.stringify(d, null, 2));
    else {
      console.log(`${d.name} (${d.source}) — ${d.dir}`);
      console.log(`counts: train ${d.counts.train}, val ${d.counts.val}, test ${d.counts.test}`);
      console.log(`classes (${d.classes.length}): ${d.classes.join(', ')}`);
      console.log('per class (test):', Object.entries(d.testPerClass).map(([k, v]) => `${k} ${v}`).join(', '));
      console.log('sample captions:');
      for (const c of d.sampleCaptions) console.log(`  - ${c}`);
    }
    return 0;
  },
};

export function registerDataSubcommand(name: string, run: Command['run']): void {
  SUBCOMMANDS[name] = run;
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'generate, import, list and show datasets',
  usage: USAGE,
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UserError(`unknown data subcommand ${JSON.stringify(sub ?? '')}; one of: ${Object.keys(SUBCOMMANDS).join(', ')}`, 'bad_flags');
    return run(rest, ctx);
  },
};
