import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { ENGINE_DIR } from './setup.js';

/**
 * The training settings as the engine declares them (trainer/engine/poisonlens_engine/settings.json,
 * which its argparse flags are built from): `poisonlens train`'s flags, the typed options below
 * and the engine's argv all come from this one table, so a setting is named, typed and bounded in
 * one place. Defaults and the kind of a trained model stay the engine's: ask it (`engineConfig`
 * in engine.ts, the engine's --print-config), or, to plan before a training set exists, read its
 * rule here (`derivedKind`).
 */
export interface SettingSpec {
  /** The flag of the command line and of the engine, without dashes. */
  name: string;
  /** The TrainingSettings field. */
  option: keyof TrainingSettings;
  /** switch: a flag without value; tristate: --X / --no-X. */
  type: 'int' | 'float' | 'string' | 'choice' | 'switch' | 'tristate';
  choices?: string[];
  min?: number;
  max?: number;
  /** Settings that, when given, allow 0 below `min` (--steps 0 with --from/--pretrained). */
  zeroWith?: string[];
  /** The engine's default (absent: the recipe's, or unset). */
  default?: unknown;
  /** A switch that sets its option to false (--no-augment: augment false). */
  inverted?: boolean;
  /** A flag of `poisonlens train`. */
  cli?: boolean;
  /** false: the launcher's (torchrun's process count), never an engine flag. */
  engine?: boolean;
  metavar?: string;
  group: string;
  help?: string;
}

export interface ExclusiveRule {
  settings: string[];
  message: string;
}

/**
 * What `--freeze` keeps from training: `image` or `text` the whole tower (the paper's Table 5),
 * `text-blocks` only the text transformer blocks (mm_poison's text freeze: token and positional
 * embeddings, ln_final and the projection still train).
 */
export type FreezeMode = 'image' | 'text' | 'text-blocks';
export type Device = 'auto' | 'cpu' | 'cuda' | 'mps';
export type Precision = 'auto' | 'fp32' | 'bf16' | 'fp16';
export type DataMode = 'auto' | 'memory' | 'stream';
type Kind = 'base' | 'clean' | 'poisoned' | 'defended';

/**
 * The table's settings as typed options (a JSON import has no literal types, so the field list is
 * written here and checked against the table by SETTING_OPTIONS and the tests). Left out: the
 * engine's default or the recipe's.
 */
export interface TrainingSettings {
  /** From scratch (or --pretrained) with this architecture; neither it nor --from: the default small one. */
  arch?: string;
  pretrained?: string;
  freeze?: FreezeMode;
  recipe?: string;
  epochs?: number;
  steps?: number;
  batch?: number;
  lr?: number;
  minLr?: number;
  weightDecay?: number;
  warmupSteps?: number;
  /** false: no random resized crop (the recipe's augmentation); default on. */
  augment?: boolean;
  seed?: number;
  threads?: number;
  /** undefined: on where the CPU supports it. */
  bf16?: boolean;
  /** Autocast precision (default auto: bf16 where supported; fp16 with a gradient scaler on older GPUs). */
  precision?: Precision;
  /** auto (default: CUDA when torch sees a GPU, else MPS, else the CPU), cpu, cuda or mps. */
  device?: Device;
  /** Processes under torchrun (DDP; default 1: no torchrun). The batch is the global batch. */
  nproc?: number;
  /** Under torchrun: open_clip's local-loss variant of the gathered contrastive loss. */
  localLoss?: boolean;
  /** torch.compile the model (the engine's --compile; off by default). */
  compile?: boolean;
  /** Training images held in memory or streamed from the decoded cache (default auto). */
  data?: DataMode;
  /** Processes that decode images into the cache (default: the engine's, up to 8). */
  workers?: number;
  checkpointEvery?: number;
  evalEvery?: number;
  /** Also write a package at each epoch's end (`<name>-eNN`; the engine's --save-epochs). */
  saveEpochs?: boolean;
  valDataset?: string;
  valSplit?: string;
  valImages?: number;
  kind?: Kind;
}

/** Every TrainingSettings field once: the compiler keeps it complete, the tests hold it to the table. */
export const SETTING_OPTIONS: Record<keyof TrainingSettings, true> = {
  arch: true, pretrained: true, freeze: true, recipe: true, epochs: true, steps: true, batch: true, lr: true, minLr: true,
  weightDecay: true, warmupSteps: true, augment: true, seed: true, threads: true, bf16: true, precision: true, device: true,
  nproc: true, localLoss: true, compile: true, data: true, workers: true, checkpointEvery: true, evalEvery: true, saveEpochs: true,
  valDataset: true, valSplit: true, valImages: true, kind: true,
};

/** How a training starts (the engine's `mode`): from scratch, from pretrained weights, or fine-tuning a package. */
export type TrainingMode = 'scratch' | 'pretrained' | 'finetune';

/** The kind the engine records when --kind is not given: poisonedPairs when the training set has any, else by mode. */
interface DerivedKindRule {
  poisonedPairs: Kind;
  byMode: Record<TrainingMode, Kind>;
}

interface Table {
  settings: Array<Omit<SettingSpec, 'option'> & { option?: string }>;
  exclusive: ExclusiveRule[];
  derivedKind: DerivedKindRule;
}

export const SETTINGS_FILE = join(ENGINE_DIR, 'poisonlens_engine', 'settings.json');

function loadTable(): { settings: SettingSpec[]; exclusive: ExclusiveRule[]; derivedKind: DerivedKindRule } {
  const raw = JSON.parse(readFileSync(SETTINGS_FILE, 'utf8')) as Table;
  const settings = raw.settings.map((s) => ({ ...s, option: (s.option ?? camelCase(s.name)) as keyof TrainingSettings }));
  return { settings, exclusive: raw.exclusive, derivedKind: raw.derivedKind };
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

const TABLE = loadTable();
export const TRAINING_SETTINGS: readonly SettingSpec[] = TABLE.settings;
export const EXCLUSIVE_SETTINGS: readonly ExclusiveRule[] = TABLE.exclusive;

export function settingSpec(name: string): SettingSpec {
  const s = TABLE.settings.find((x) => x.name === name);
  if (!s) throw new Error(`no training setting ${JSON.stringify(name)} in ${SETTINGS_FILE}`);
  return s;
}

export function choicesOf(name: string): readonly string[] {
  return settingSpec(name).choices ?? [];
}

export const FREEZE_MODES = choicesOf('freeze') as readonly FreezeMode[];
export const DEVICES = choicesOf('device') as readonly Device[];
export const PRECISIONS = choicesOf('precision') as readonly Precision[];
export const DATA_MODES = choicesOf('data') as readonly DataMode[];

/**
 * The kind the engine gives a model trained without --kind (the table's derivedKind, the rule the
 * engine's derive_kind reads): a study names its models by kind before their training sets exist.
 */
export function derivedKind(mode: TrainingMode, poisonedPairs: boolean): Kind {
  return poisonedPairs ? TABLE.derivedKind.poisonedPairs : TABLE.derivedKind.byMode[mode];
}

/** Whether the option of `s` is set (a switch by its flag's value, e.g. augment false). */
export function isGiven(s: SettingSpec, o: TrainingSettings): boolean {
  const v = o[s.option];
  if (s.type === 'switch') return v === !s.inverted;
  return v !== undefined;
}

/** The table's exclusions (--epochs with --steps, --precision with --bf16/--no-bf16). */
export function checkExclusive(o: TrainingSettings): void {
  for (const rule of EXCLUSIVE_SETTINGS) {
    if (rule.settings.every((n) => isGiven(settingSpec(n), o))) throw new UserError(rule.message, 'bad_flags');
  }
}

/** The engine flags of the settings in `o`, in the table's order; unset ones are left to the engine. */
export function settingsEngineArgs(o: TrainingSettings): string[] {
  checkExclusive(o);
  const out: string[] = [];
  for (const s of TRAINING_SETTINGS) {
    if (s.engine === false || !isGiven(s, o)) continue;
    const v = o[s.option];
    if (s.type === 'switch') out.push(`--${s.name}`);
    else if (s.type === 'tristate') out.push(v ? `--${s.name}` : `--no-${s.name}`);
    else out.push(`--${s.name}`, String(v));
  }
  return out;
}
