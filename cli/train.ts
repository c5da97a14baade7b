import { resolve } from 'node:path';
import type { Command } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { MODEL_KINDS, type ModelKind } from '../indexer/package.js';
import { DEVICES, FREEZE_MODES, PRECISIONS, trainModel, type FreezeMode } from '../trainer/train.js';

/**
 * `--device`/`--nproc` of commands that start many trainings (`experiment`, `up`): they become
 * POISONLENS_DEVICE/POISONLENS_NPROC for every training this process starts (trainer/train.ts
 * deviceDefaults), so a study or the world runs on the GPU(s) without a field in its file.
 */
export function applyDeviceFlags(values: Record<string, unknown>): void {
  const device = oneOfFlag(values, 'device', DEVICES);
  const nproc = numberFlag(values, 'nproc', { min: 1, max: 1024, integer: true });
  if (device !== undefined) process.env.POISONLENS_DEVICE = device;
  if (nproc !== undefined) process.env.POISONLENS_NPROC = String(nproc);
}

/** A flag whose value must be one of `choices`; undefined when absent. */
export function oneOfFlag<T extends string>(values: Record<string, unknown>, name: string, choices: readonly T[]): T | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    throw new UserError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`, 'bad_flags');
  }
  return v as T;
}

const USAGE =
  'poisonlens train --trainset T [--from MODEL | --arch ARCH [--pretrained TAG|FILE]] [--epochs E | --steps N (0: package the weights as they are)] --name M ' +
  '[--freeze image|text|text-blocks] [--batch B] [--lr LR] [--seed S] [--threads N] [--no-bf16] [--no-augment] [--kind base|clean|poisoned|defended] ' +
  '[--recipe R] [--val-images N] [--checkpoint-every N] [--device auto|cpu|cuda|mps] [--precision auto|fp32|bf16|fp16] ' +
  '[--nproc N [--local-loss]] [--data auto|memory|stream] [--workers N] [--overwrite] [--json]';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train or fine-tune an encoder on a training set (Python engine) and write its model package',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      {
        trainset: { type: 'string' },
        from: { type: 'string' },
        arch: { type: 'string' },
        pretrained: { type: 'string' },
        recipe: { type: 'string' },
        epochs: { type: 'string' },
        steps: { type: 'string' },
        name: { type: 'string' },
        freeze: { type: 'string' },
        batch: { type: 'string' },
        lr: { type: 'string' },
        seed: { type: 'string' },
        threads: { type: 'string' },
        'no-bf16': { type: 'boolean' },
        bf16: { type: 'boolean' },
        'no-augment': { type: 'boolean' },
        kind: { type: 'string' },
        'val-images': { type: 'string' },
        'checkpoint-every': { type: 'string' },
        'eval-every': { type: 'string' },
        device: { type: 'string' },
        precision: { type: 'string' },
        nproc: { type: 'string' },
        'local-loss': { type: 'boolean' },
        data: { type: 'string' },
        workers: { type: 'string' },
        overwrite: { type: 'boolean' },
        // Test only: the engine writes fixed inputs and its torch embeddings here.
        'reference-out': { type: 'string' },
        json: { type: 'boolean' },
      },
      USAGE,
    );
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const freeze = values.freeze as string | undefined;
    if (freeze !== undefined && !(FREEZE_MODES as readonly string[]).includes(freeze)) throw new UserError(`--freeze must be one of ${FREEZE_MODES.join(', ')}, got ${JSON.stringify(freeze)}`, 'bad_flags');
    const kind = values.kind as string | undefined;
    if (kind !== undefined && !(MODEL_KINDS as readonly string[]).includes(kind)) throw new UserError(`--kind must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(kind)}`, 'bad_flags');
    if (values['no-bf16'] && values.bf16) throw new UserError('give --bf16 or --no-bf16, not both', 'bad_flags');
    const device = oneOfFlag(values, 'device', DEVICES);
    const precision = oneOfFlag(values, 'precision', PRECISIONS);
    const data = oneOfFlag(values, 'data', ['auto', 'memory', 'stream'] as const);
    const nproc = numberFlag(values, 'nproc', { min: 1, max: 1024, integer: true });
    // --steps 0 packages --pretrained/--from weights as they are (a pretrained CLIP as a study's base).
    const steps = numberFlag(values, 'steps', { min: values.pretrained || values.from ? 0 : 1, max: 10_000_000, integer: true });
    if (values['local-loss'] && !((nproc ?? 1) > 1)) throw new UserError('--local-loss is a variant of the loss gathered over processes: it needs --nproc > 1', 'bad_flags');
    const pkg = await trainModel(resolveWorkspace(ctx.workspaceDir), {
      trainset: requireFlag(values, 'trainset', USAGE),
      name: requireFlag(values, 'name', USAGE),
      from: values.from as string | undefined,
      arch: values.arch as string | undefined,
      pretrained: values.pretrained as string | undefined,
      recipe: values.recipe as string | undefined,
      epochs: numberFlag(values, 'epochs', { min: 1e-6, max: 10_000 }),
      steps,
      batch: numberFlag(values, 'batch', { min: 1, max: 65_536, integer: true }),
      lr: numberFlag(values, 'lr', { min: 1e-12, max: 10 }),
      seed: numberFlag(values, 'seed', { min: 0, max: 0xffffffff, integer: true }),
      threads: numberFlag(values, 'threads', { min: 1, max: 256, integer: true }),
      bf16: values['no-bf16'] ? false : values.bf16 ? true : undefined,
      augment: values['no-augment'] ? false : undefined,
      freeze: freeze as FreezeMode | undefined,
      kind: kind as ModelKind | undefined,
      valImages: numberFlag(values, 'val-images', { min: 0, integer: true }),
      checkpointEvery: numberFlag(values, 'checkpoint-every', { min: 1, integer: true }),
      evalEvery: numberFlag(values, 'eval-every', { min: 0, integer: true }),
      device,
      precision,
      nproc,
      localLoss: Boolean(values['local-loss']),
      data,
      workers: numberFlag(values, 'workers', { min: 0, max: 256, integer: true }),
      overwrite: Boolean(values.overwrite),
      engineArgs: values['reference-out'] ? ['--reference-out', resolve(values['reference-out'] as string)] : [],
    });
    if (values.json) console.log(JSON.stringify({ id: pkg.id, dir: pkg.dir, card: pkg.card }, null, 2));
    else console.log(`${pkg.id}\t${pkg.card.kind}\t${pkg.dir}`);
    return 0;
  },
};
