import { resolve } from 'node:path';
import type { Command } from './command.js';
import { parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { trainConfig, trainModel } from '../trainer/train.js';
import { readSettingFlag, readSettingFlags, settingFlagSpec, settingsUsage } from './train-flags.js';

/**
 * `--device`/`--nproc` of commands that start many trainings (`experiment`, `up`): they become
 * POISONLENS_DEVICE/POISONLENS_NPROC for every training this process starts (trainer/train.ts
 * deviceDefaults), so a study or the world runs on the GPU(s) without a field in its file.
 */
export function applyDeviceFlags(values: Record<string, unknown>): void {
  const device = readSettingFlag(values, 'device') as string | undefined;
  const nproc = readSettingFlag(values, 'nproc') as number | undefined;
  if (device !== undefined) process.env.POISONLENS_DEVICE = device;
  if (nproc !== undefined) process.env.POISONLENS_NPROC = String(nproc);
}

// The alternatives written out; the other settings' flags come from the engine's table.
const USAGE =
  'poisonlens train --trainset T [--from MODEL | --arch ARCH [--pretrained TAG|FILE]] [--epochs E | --steps N (0: package the weights as they are)] --name M ' +
  `${settingsUsage(['arch', 'pretrained', 'epochs', 'steps'])} [--overwrite] [--print-config] [--json]`;

export const trainCommand: Command = {
  name: 'train',
  summary: 'train or fine-tune an encoder on a training set (Python engine) and write its model package',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      {
        ...settingFlagSpec(),
        trainset: { type: 'string' },
        from: { type: 'string' },
        name: { type: 'string' },
        overwrite: { type: 'boolean' },
        'print-config': { type: 'boolean' },
        // Test only: the engine writes fixed inputs and its torch embeddings here.
        'reference-out': { type: 'string' },
        json: { type: 'boolean' },
      },
      USAGE,
    );
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const settings = readSettingFlags(values);
    if (settings.localLoss && !((settings.nproc ?? 1) > 1)) throw new UserError('--local-loss is a variant of the loss gathered over processes: it needs --nproc > 1', 'bad_flags');
    const ws = resolveWorkspace(ctx.workspaceDir);
    const trainset = requireFlag(values, 'trainset', USAGE);
    const from = values.from as string | undefined;
    if (values['print-config']) {
      console.log(JSON.stringify(trainConfig(ws, { ...settings, trainset, from }), null, 2));
      return 0;
    }
    const pkg = await trainModel(ws, {
      ...settings,
      trainset,
      name: requireFlag(values, 'name', USAGE),
      from,
      overwrite: Boolean(values.overwrite),
      engineArgs: values['reference-out'] ? ['--reference-out', resolve(values['reference-out'] as string)] : [],
    });
    if (values.json) console.log(JSON.stringify({ id: pkg.id, dir: pkg.dir, card: pkg.card }, null, 2));
    else console.log(`${pkg.id}\t${pkg.card.kind}\t${pkg.dir}`);
    return 0;
  },
};
