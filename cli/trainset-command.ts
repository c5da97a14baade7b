import type { Command } from './command.js';
import { parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { checkName, resolveWorkspace } from '../core/workspace.js';
import type { Split } from '../data/dataset.js';
import { buildCleanTrainset } from '../trainer/clean-trainset.js';
import { POOL_FLAG_OPTIONS, POOL_USAGE, poolFlags } from './pool-flags.js';

const USAGE = `poisonlens trainset --dataset N [--split train] [--part base] ${POOL_USAGE} --name T [--json]`;

export const trainsetCommand: Command = {
  name: 'trainset',
  summary: 'build a clean training set (one pair per caption) from a dataset split',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      { dataset: { type: 'string' }, split: { type: 'string' }, part: { type: 'string' }, ...POOL_FLAG_OPTIONS, name: { type: 'string' }, json: { type: 'boolean' } },
      USAGE,
    );
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    if (values.part !== undefined && values.part !== 'base') throw new UserError(`--part takes only base (the train images reserved for the base model), got ${JSON.stringify(values.part)}\nusage: ${USAGE}`, 'bad_flags');
    const t = await buildCleanTrainset(resolveWorkspace(ctx.workspaceDir), {
      dataset: requireFlag(values, 'dataset', USAGE),
      split: ((values.split as string | undefined) ?? 'train') as Split,
      name: checkName(requireFlag(values, 'name', USAGE), 'training set name'),
      ...(values.part === 'base' ? { part: 'base' as const } : {}),
      ...poolFlags(values, USAGE),
    });
    if (values.json) console.log(JSON.stringify({ name: t.name, dir: t.dir, counts: t.card.counts, pairsSha256: t.card.pairsSha256 }, null, 2));
    else console.log(`wrote training set ${t.name}: ${t.card.counts.pairs} pairs over ${t.card.counts.images} images (${t.dir})`);
    return 0;
  },
};
