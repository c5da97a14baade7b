import { UserError } from '../../core/errors.js';

/**
 * Small validators for study files. Every failure is a one-line UserError that names the file
 * and the field by its path (e.g. `variants[2].goal`), so a bad study file says exactly what
 * to fix.
 */
export class SpecError extends UserError {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`, 'bad_study');
  }
}

export type Check<T> = (value: unknown, path: string) => T;

const show = (v: unknown) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}…` : s;
};

export function fail(path: string, problem: string): never {
  throw new SpecError(path, problem);
}

export const str: Check<string> = (v, p) => (typeof v === 'string' && v.trim() !== '' ? v : fail(p, `expected a non-empty string, got ${show(v)}`));
export const bool: Check<boolean> = (v, p) => (typeof v === 'boolean' ? v : fail(p, `expected true or false, got ${show(v)}`));

export function num(opts: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean } = {}): Check<number> {
  return (v, p) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(p, `expected a number, got ${show(v)}`);
    if (opts.integer && !Number.isInteger(v)) fail(p, `expected a whole number, got ${show(v)}`);
    if (opts.min !== undefined && (opts.exclusiveMin ? v <= opts.min : v < opts.min)) fail(p, `must be ${opts.exclusiveMin ? '>' : '≥'} ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) fail(p, `must be ≤ ${opts.max}, got ${v}`);
    return v;
  };
}

export function oneOf<T extends string>(values: readonly T[]): Check<T> {
  return (v, p) => ((values as readonly unknown[]).includes(v) ? (v as T) : fail(p, `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${show(v)}`));
}

export function nullable<T>(c: Check<T>): Check<T | null> {
  return (v, p) => (v === null ? null : c(v, p));
}

export function arrayOf<T>(c: Check<T>, opts: { min?: number } = {}): Check<T[]> {
  return (v, p) => {
    if (!Array.isArray(v)) fail(p, `expected a list, got ${show(v)}`);
    if (opts.min !== undefined && v.length < opts.min) fail(p, `needs at least ${opts.min} entr${opts.min === 1 ? 'y' : 'ies'}`);
    return v.map((x, i) => c(x, `${p}[${i}]`));
  };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, p: string): Record<string, unknown> {
  return isObject(v) ? v : fail(p, `expected an object, got ${show(v)}`);
}

/** Reads the fields of one object; `done()` rejects any field that was not read. */
export class Fields {
  private readonly seen = new Set<string>();
  readonly o: Record<string, unknown>;

  constructor(
    value: unknown,
    readonly path: string,
  ) {
    this.o = obj(value, path || '(top level)');
  }

  at(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  has(name: string): boolean {
    return this.o[name] !== undefined;
  }

  /** The field checked by `c`; absent: `fallback` (or undefined). */
  get<T>(name: string, c: Check<T>): T | undefined;
  get<T>(name: string, c: Check<T>, fallback: T): T;
  get<T>(name: string, c: Check<T>, fallback?: T): T | undefined {
    this.seen.add(name);
    const v = this.o[name];
    if (v === undefined) return fallback;
    return c(v, this.at(name));
  }

  need<T>(name: string, c: Check<T>): T {
    this.seen.add(name);
    const v = this.o[name];
    if (v === undefined) fail(this.at(name), 'missing (required)');
    return c(v, this.at(name));
  }

  /** Marks fields as read without checking them here. */
  skip(...names: string[]): void {
    for (const n of names) this.seen.add(n);
  }

  done(known: string[] = []): void {
    for (const k of Object.keys(this.o)) {
      if (!this.seen.has(k)) {
        const all = [...this.seen, ...known].sort();
        fail(this.at(k), `unknown field (known here: ${all.join(', ')})`);
      }
    }
  }
}
