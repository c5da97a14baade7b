import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../core/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `argv` against `options` strictly: an unknown flag or a missing value is a UserError
 * with one line naming it, and the usage line of the command.
 */
export function parseFlags<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UserError(`${(err as Error).message.split('\n')[0]}\nusage: ${usage}`, 'bad_flags');
  }
}

export function requireFlag(values: Record<string, unknown>, name: string, usage: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UserError(`missing --${name}\nusage: ${usage}`, 'bad_flags');
  return v;
}

/** A number flag with bounds; `undefined` when absent and no default. */
export function numberFlag(
  values: Record<string, unknown>,
  name: string,
  opts: { min?: number; max?: number; integer?: boolean; default?: number } = {},
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return opts.default;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) {
    throw new UserError(`--${name} must be a number, got ${JSON.stringify(raw)}`, 'bad_flags');
  }
  if (opts.integer && !Number.isInteger(n)) throw new UserError(`--${name} must be an integer, got ${raw}`, 'bad_flags');
  if (opts.min !== undefined && n < opts.min) throw new UserError(`--${name} must be ≥ ${opts.min}, got ${raw}`, 'bad_flags');
  if (opts.max !== undefined && n > opts.max) throw new UserError(`--${name} must be ≤ ${opts.max}, got ${raw}`, 'bad_flags');
  return n;
}
