import type { Command } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { openCatalog } from '../core/catalog.js';
import { reapDeadJobs } from '../core/jobs.js';
import { Progress, formatSeconds } from '../core/progress.js';
import { checkSplit, ensureIndex, type ProgressPhase } from '../indexer/index-build.js';
import { DEFAULT_HNSW } from '../indexer/vector-index.js';

const USAGE =
  `poisonlens index --model M --dataset N [--split test|train|val|all] [--m ${DEFAULT_HNSW.m}] [--ef-construction ${DEFAULT_HNSW.efConstruction}] [--ef ${DEFAULT_HNSW.efSearch}] [--batch 64] [--threads 2] [--force] [--json]`;

export const indexCommand: Command = {
  name: 'index',
  summary: "embed a dataset split's images with a model and build its HNSW index (reused when model and manifest match)",
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      {
        model: { type: 'string' },
        dataset: { type: 'string' },
        split: { type: 'string' },
        m: { type: 'string' },
        'ef-construction': { type: 'string' },
        ef: { type: 'string' },
        batch: { type: 'string' },
        threads: { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      USAGE,
    );
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const model = requireFlag(values, 'model', USAGE);
    const dataset = requireFlag(values, 'dataset', USAGE);
    const split = checkSplit((values.split as string | undefined) ?? 'test');
    const hnsw = {
      m: numberFlag(values, 'm', { min: 2, max: 512, integer: true, default: DEFAULT_HNSW.m })!,
      efConstruction: numberFlag(values, 'ef-construction', { min: 1, max: 100_000, integer: true, default: DEFAULT_HNSW.efConstruction })!,
      efSearch: numberFlag(values, 'ef', { min: 1, max: 100_000, integer: true, default: DEFAULT_HNSW.efSearch })!,
    };
    const batchSize = numberFlag(values, 'batch', { min: 1, max: 4096, integer: true, default: 64 });
    const threads = numberFlag(values, 'threads', { min: 1, max: 256, integer: true, default: 2 });
    const ws = resolveWorkspace(ctx.workspaceDir);
    const db = openCatalog(ws.catalogPath);
    for (const j of reapDeadJobs(db)) console.error(`poisonlens: ${j.type} job ${j.id} (${j.target}) died with its process; marked failed`);
    const bars: Partial<Record<ProgressPhase, Progress>> = {};
    try {
      const r = await ensureIndex(ws, {
        model, dataset, split, hnsw, force: Boolean(values.force), batchSize, threads, db,
        onProgress(phase, done, total) {
          bars[phase] ??= new Progress({ label: phase === 'embed' ? 'embedding' : 'hnsw graph', total, unit: phase === 'embed' ? 'img' : 'vec' });
          bars[phase]!.update(done);
          if (done >= total) bars[phase]!.finish();
        },
      });
      const c = r.index.card;
      if (values.json) {
        console.log(JSON.stringify({ built: r.built, reason: r.reason, dir: r.index.dir, card: c }, null, 2));
      } else {
        console.log(`${r.built ? 'built' : 'reused'} index ${model}/${dataset}/${split}: ${c.count} images, dim ${c.dim} (${r.reason})`);
        console.log(`  ${r.index.dir}`);
        console.log(`  HNSW M=${c.hnsw.m} efConstruction=${c.hnsw.efConstruction} ef=${c.hnsw.efSearch}`);
        if (r.built) {
          console.log(`  embedding ${formatSeconds(c.build.embedSeconds)} (${c.build.imagesPerSecond} images/s), graph ${formatSeconds(c.build.hnswSeconds)}`);
        }
      }
      return 0;
    } finally {
      db.close();
    }
  },
};
