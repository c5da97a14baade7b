import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../core/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `argv` against `options` strictly: an unknown flag or a missing value is a UserError
 * with one line naming it, and the usage line of the command.
 */
export function parseFlags<O extends Options>(argv: string[], options: O, usage: string) {
  // `--steps -1`: node's parser takes "-1" for a flag ("argument is ambiguous"); pass negative
  // numbers as the value they are, so the flag's own bounds name the problem.
  const args = argv.slice();
  for (let i = 0; i + 1 < args.length; i++) {
    const m = /^--([^=]+)$/.exec(args[i]);
    if (m && options[m[1]]?.type === 'string' && /^-(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(args[i + 1])) {
      args.splice(i, 2, `${args[i]}=${args[i + 1]}`);
    }
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
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

/** A flag whose value must be one of `choices`; undefined when absent. */
export function oneOfFlag<T extends string>(values: Record<string, unknown>, name: string, choices: readonly T[]): T | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    throw new UserError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`, 'bad_flags');
  }
  return v as T;
}
