import type { Command } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { POOL_FLAG_OPTIONS, POOL_USAGE, poolFlags } from './pool-flags.js';
import { attackNames, buildPoisonedTrainset, type Budget } from '../data/poison/poison.js';

const USAGE =
  `poisonlens poison --dataset N --attack I|II|III|backdoor --goal A>B[,A2>B2…] (--poison-images K | --rate R) [--target-image ID] [--keep-clean] ${POOL_USAGE} --seed S --name T [--json]`;

export const poisonCommand: Command = {
  name: 'poison',
  summary: 'build a poisoned training set (attacks I, II, III, backdoor) from a dataset',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      {
        dataset: { type: 'string' },
        attack: { type: 'string' },
        goal: { type: 'string' },
        'poison-images': { type: 'string' },
        rate: { type: 'string' },
        'target-image': { type: 'string' },
        'keep-clean': { type: 'boolean' },
        ...POOL_FLAG_OPTIONS,
        seed: { type: 'string' },
        name: { type: 'string' },
        json: { type: 'boolean' },
      },
      USAGE,
    );
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const attack = requireFlag(values, 'attack', USAGE);
    if (!attackNames().includes(attack)) throw new UserError(`unknown attack ${JSON.stringify(attack)}; one of: ${attackNames().join(', ')}`, 'unknown_attack');
    const images = numberFlag(values, 'poison-images', { min: 0, integer: true });
    const rate = numberFlag(values, 'rate', { min: 0, max: 1 });
    if ((images === undefined) === (rate === undefined)) throw new UserError(`give exactly one of --poison-images K or --rate R\nusage: ${USAGE}`, 'bad_flags');
    const budget: Budget = images !== undefined ? { images } : { rate: rate! };
    const seed = numberFlag(values, 'seed', { min: 0, max: 0xffffffff, integer: true });
    if (seed === undefined) throw new UserError(`missing --seed\nusage: ${USAGE}`, 'bad_flags');
    const t = await buildPoisonedTrainset(resolveWorkspace(ctx.workspaceDir), {
      dataset: requireFlag(values, 'dataset', USAGE),
      attack,
      goal: requireFlag(values, 'goal', USAGE),
      budget,
      keepClean: Boolean(values['keep-clean']),
      seed,
      targetImage: values['target-image'] as string | undefined,
      name: requireFlag(values, 'name', USAGE),
      ...poolFlags(values, USAGE),
    });
    const a = t.card.attack as { budget: { imagesPerGoal: number; poisonedPairs: number; totalPairs: number; rate: number }; target?: { id: string; split: string; evalAddToGallery: boolean } };
    if (values.json) {
      console.log(JSON.stringify({ name: t.name, dir: t.dir, counts: t.card.counts, attack: t.card.attack }, null, 2));
    } else {
      console.log(`wrote training set ${t.name} (${t.dir})`);
      console.log(`attack ${attack} ${values.goal}: ${a.budget.imagesPerGoal} image(s) per goal, ${a.budget.poisonedPairs} of ${a.budget.totalPairs} pairs poisoned (rate ${a.budget.rate.toPrecision(4)})`);
      if (a.target) {
        console.log(
          `target image ${a.target.id} (${a.target.split} split)` +
            (a.target.evalAddToGallery ? ': not in the test gallery; `poisonlens eval` adds it there' : ': in the test gallery'),
        );
      }
    }
    return 0;
  },
};
