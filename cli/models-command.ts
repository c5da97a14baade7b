import type { Command } from './command.js';
import { parseFlags } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { openCatalog } from '../core/catalog.js';
import { listModels } from '../trainer/models.js';

const USAGE = 'poisonlens models [--json]';

export const modelsCommand: Command = {
  name: 'models',
  summary: 'list the model packages (id, kind, arch, parent, trainset, val R@10) and sync them into the catalog',
  usage: USAGE,
  run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, USAGE);
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const ws = resolveWorkspace(ctx.workspaceDir);
    const db = openCatalog(ws.catalogPath);
    let r;
    try {
      r = listModels(ws, db);
    } finally {
      db.close();
    }
    if (values.json) {
      console.log(JSON.stringify(r, null, 2));
      return 0;
    }
    for (const p of r.problems) console.error(`warning: ${p.message}`);
    if (r.models.length === 0) {
      console.log('no models yet; try `poisonlens train --trainset T --name M`');
      return 0;
    }
    const rows = [['id', 'kind', 'arch', 'parent', 'trainset', 'val R@10'], ...r.models.map((m) => [
      m.id, m.kind, m.arch, m.parent ?? '-', m.trainset ?? '-', m.valR10 === null ? '-' : m.valR10.toFixed(3),
    ])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
    return 0;
  },
};
