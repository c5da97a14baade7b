import type { Command } from './command.js';
import { parseFlags, numberFlag, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { checkName, resolveWorkspace } from '../core/workspace.js';
import { defaultSplits, defaultWorkers, generateScenes, SCENES_DEFAULTS, type Balance } from '../data/scenes/generate.js';
import { SCENE_STYLES, type SceneStyle } from '../data/scenes/style.js';

const USAGE =
  'poisonlens data scenes --name N [--count 52000] [--size 64] [--seed 0] [--test-per-class 50] [--val 1000] [--balance uniform|natural] [--style sentences|regions] [--base-images N (default 20000 with the default --count)] [--workers W] [--force] [--json]';

/** `data scenes`: generate the scenes dataset (the default world; `--style regions`: the second, VG-like world). */
export const runScenes: Command['run'] = async (argv, ctx) => {
  const { values, positionals } = parseFlags(
    argv,
    {
      name: { type: 'string' },
      count: { type: 'string' },
      size: { type: 'string' },
      seed: { type: 'string' },
      'test-per-class': { type: 'string' },
      val: { type: 'string' },
      balance: { type: 'string' },
      style: { type: 'string' },
      'base-images': { type: 'string' },
      workers: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    USAGE,
  );
  if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
  const name = checkName(requireFlag(values, 'name', USAGE), 'dataset name');
  const count = numberFlag(values, 'count', { integer: true, min: 1, max: 2_000_000, default: SCENES_DEFAULTS.count })!;
  const splits = defaultSplits(count);
  const balance = (values.balance ?? SCENES_DEFAULTS.balance) as string;
  if (balance !== 'uniform' && balance !== 'natural') throw new UserError(`--balance must be uniform or natural, got ${JSON.stringify(balance)}`, 'bad_flags');
  const style = (values.style ?? 'sentences') as string;
  if (!(SCENE_STYLES as readonly string[]).includes(style)) throw new UserError(`--style must be ${SCENE_STYLES.join(' or ')}, got ${JSON.stringify(style)}`, 'bad_flags');
  const result = await generateScenes(resolveWorkspace(ctx.workspaceDir), {
    name,
    count,
    size: numberFlag(values, 'size', { integer: true, default: SCENES_DEFAULTS.size })!,
    seed: numberFlag(values, 'seed', { integer: true, min: 0, max: 0xffffffff, default: SCENES_DEFAULTS.seed })!,
    testPerClass: numberFlag(values, 'test-per-class', { integer: true, min: 0, default: splits.testPerClass })!,
    val: numberFlag(values, 'val', { integer: true, min: 0, default: splits.val })!,
    balance: balance as Balance,
    ...(style !== 'sentences' ? { style: style as SceneStyle } : {}),
    // the default world's base part comes with the default count; other counts choose their own
    baseImages: numberFlag(values, 'base-images', { integer: true, min: 1 }) ?? (values.count === undefined ? SCENES_DEFAULTS.baseImages : null),
    workers: numberFlag(values, 'workers', { integer: true, min: 0, max: 64, default: defaultWorkers(count) })!,
    force: Boolean(values.force),
  });
  const { card } = result;
  const summary = {
    name: card.name,
    dir: result.dir,
    counts: card.counts,
    manifestSha256: card.manifestSha256,
    captionCeiling: (card.captionCeiling as { textToImageR1: number }).textToImageR1,
    seconds: Math.round(result.seconds * 10) / 10,
    imagesPerSecond: Math.round(result.imagesPerSecond),
  };
  if (values.json) console.log(JSON.stringify(summary, null, 2));
  else
    console.log(
      `scenes dataset ${card.name}: train ${card.counts.train}, val ${card.counts.val}, test ${card.counts.test} in ${summary.seconds}s (${summary.imagesPerSecond} img/s); test caption R@1 ceiling ${summary.captionCeiling}\n${result.dir}`,
    );
  return 0;
};
