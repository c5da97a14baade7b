import { UserError } from '../core/errors.js';
import { settingSpec, TRAINING_SETTINGS, type SettingSpec, type TrainingSettings } from '../trainer/training-settings.js';
import { numberFlag, oneOfFlag } from './args.js';

/**
 * `poisonlens train`'s flags for the training settings, derived from the engine's table
 * (trainer/training-settings.ts): the parser's spec, the usage text and the checked values.
 */
const CLI_SETTINGS = TRAINING_SETTINGS.filter((s) => s.cli);

/** parseFlags options of the settings (a tristate is two booleans, --X and --no-X). */
export function settingFlagSpec(): Record<string, { type: 'string' | 'boolean' }> {
  const spec: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const s of CLI_SETTINGS) {
    if (s.type === 'tristate') spec[`no-${s.name}`] = spec[s.name] = { type: 'boolean' };
    else spec[s.name] = { type: s.type === 'switch' ? 'boolean' : 'string' };
  }
  return spec;
}

/** `[--flag V]` of each setting but those in `skip` (written out by the caller, e.g. as alternatives). */
export function settingsUsage(skip: readonly string[]): string {
  return CLI_SETTINGS.filter((s) => !skip.includes(s.name))
    .map((s) => {
      if (s.type === 'switch') return `[--${s.name}]`;
      if (s.type === 'tristate') return `[--no-${s.name}]`;
      return `[--${s.name} ${s.type === 'choice' ? s.choices!.join('|') : (s.metavar ?? 'V')}]`;
    })
    .join(' ');
}

/** The settings given as flags, checked against the table's types, bounds and choices. */
export function readSettingFlags(values: Record<string, unknown>): TrainingSettings {
  const out: Record<string, unknown> = {};
  for (const s of CLI_SETTINGS) {
    const v = readSetting(s, values);
    if (v !== undefined) out[s.option] = v;
  }
  return out as TrainingSettings;
}

/** One setting's flag, checked (also for commands that take a few of them, e.g. --device/--nproc). */
export function readSettingFlag(values: Record<string, unknown>, name: string): unknown {
  return readSetting(settingSpec(name), values);
}

function readSetting(s: SettingSpec, values: Record<string, unknown>): unknown {
  switch (s.type) {
    case 'int':
    case 'float': {
      const zero = s.zeroWith?.some((n) => Boolean(values[n]));
      return numberFlag(values, s.name, { min: zero ? Math.min(0, s.min ?? 0) : s.min, max: s.max, integer: s.type === 'int' });
    }
    case 'choice':
      return oneOfFlag(values, s.name, s.choices ?? []);
    case 'string':
      return values[s.name] as string | undefined;
    case 'switch':
      return values[s.name] ? !s.inverted : undefined;
    case 'tristate': {
      const on = Boolean(values[s.name]);
      const off = Boolean(values[`no-${s.name}`]);
      if (on && off) throw new UserError(`give --${s.name} or --no-${s.name}, not both`, 'bad_flags');
      return on ? true : off ? false : undefined;
    }
  }
}
