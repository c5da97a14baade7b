import type { Command } from './command.js';
import { parseFlags } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace, type Workspace } from '../core/workspace.js';
import { openCatalog } from '../core/catalog.js';
import { listModels, reexportTextGraphs } from '../trainer/models.js';

const USAGE = 'poisonlens models [--json] | poisonlens models reexport-text [ID ...] [--json]';

export const modelsCommand: Command = {
  name: 'models',
  summary: 'list the model packages (id, kind, arch, parent, trainset, val R@10) and sync them into the catalog; `reexport-text` gives older packages the free text axis',
  usage: USAGE,
  run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, USAGE);
    const ws = resolveWorkspace(ctx.workspaceDir);
    if (positionals[0] === 'reexport-text') return reexportText(ws, positionals.slice(1), Boolean(values.json));
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
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

/** `models reexport-text [ID ...]`: every package (or those named), a line each as it is done. */
async function reexportText(ws: Workspace, ids: string[], json: boolean): Promise<number> {
  const db = openCatalog(ws.catalogPath);
  try {
    const results = await reexportTextGraphs(ws, db, ids, (r) => {
      if (!json) console.log(`${r.id}: ${r.state === 'reexported' ? `text.onnx re-exported (largest embedding difference ${r.maxDifference?.toExponential(1)})` : `left alone: ${r.why}`}`);
    });
    if (json) console.log(JSON.stringify({ results }, null, 2));
    return 0;
  } finally {
    db.close();
  }
}
