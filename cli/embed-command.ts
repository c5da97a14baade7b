import type { Command } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { writeJsonAtomic } from '../core/fsutil.js';
import { Progress } from '../core/progress.js';
import { checkSplit, embedSplit } from '../indexer/index-build.js';
import { writeNpy } from '../indexer/npy.js';

const USAGE = 'poisonlens embed --model M --dataset N [--split test|train|val|all] --out FILE.npy [--texts] [--batch 64] [--threads 2]';

/** FILE.npy → FILE.ids.json (the row sidecar). */
export function sidecarPath(out: string): string {
  return (out.endsWith('.npy') ? out.slice(0, -4) : out) + '.ids.json';
}

export const embedCommand: Command = {
  name: 'embed',
  summary: "write a split's image (or caption, --texts) embeddings as float32 .npy with a .ids.json sidecar",
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      {
        model: { type: 'string' },
        dataset: { type: 'string' },
        split: { type: 'string' },
        out: { type: 'string' },
        texts: { type: 'boolean' },
        batch: { type: 'string' },
        threads: { type: 'string' },
      },
      USAGE,
    );
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const out = requireFlag(values, 'out', USAGE);
    if (!out.endsWith('.npy')) throw new UserError(`--out must name a .npy file, got ${JSON.stringify(out)}`, 'bad_flags');
    const texts = Boolean(values.texts);
    let bar: Progress | null = null;
    const r = await embedSplit(resolveWorkspace(ctx.workspaceDir), {
      model: requireFlag(values, 'model', USAGE),
      dataset: requireFlag(values, 'dataset', USAGE),
      split: checkSplit((values.split as string | undefined) ?? 'test'),
      texts,
      batchSize: numberFlag(values, 'batch', { min: 1, max: 4096, integer: true }),
      threads: numberFlag(values, 'threads', { min: 1, max: 256, integer: true, default: 2 }),
      onProgress(done, total) {
        bar ??= new Progress({ label: texts ? 'embedding captions' : 'embedding images', total, unit: texts ? 'text' : 'img' });
        bar.update(done);
        if (done >= total) bar.finish();
      },
    });
    const n = r.rows.length;
    // The sidecar first: a reader that finds the .npy finds its rows too.
    writeJsonAtomic(sidecarPath(out), r.rows);
    writeNpy(out, r.vectors, [n, r.dim]);
    console.log(`wrote ${n} × ${r.dim} float32 ${texts ? 'caption' : 'image'} embeddings to ${out} (rows: ${sidecarPath(out)}${r.source === 'index' ? '; vectors from the matching index' : ''})`);
    return 0;
  },
};
