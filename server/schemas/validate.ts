import { UserError } from '../../core/errors.js';

/**
 * A small schema validator: every route declares the shape of its query, params and body with
 * these checks, and gets back typed values or a 400 naming the field and the rule it broke.
 * Checks are plain functions, so a schema is data plus a few closures and the TypeScript type
 * of a checked value is derived from the schema (`Infer<typeof schema>`).
 */
export type Check<T> = (value: unknown, path: string) => T;
export type Infer<C> = C extends Check<infer T> ? T : never;

export class ValidationError extends UserError {
  constructor(readonly path: string, rule: string) {
    super(`${path || 'request'} ${rule}`, 'invalid_request', 400);
    this.name = 'ValidationError';
  }
}

function fail(path: string, rule: string): never {
  throw new ValidationError(path, rule);
}

function present(value: unknown, path: string): void {
  if (value === undefined) fail(path, 'is required');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

// Control characters (C0 except tab/newline, DEL, C1), lone surrogates and noncharacters make no sense
// in a query and break logs and terminals.
// eslint-disable-next-line no-control-regex
const BAD_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export interface StringRules {
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** What `pattern` means, for the message ("letters, digits, '.', '_' or '-'"). */
  patternText?: string;
  trim?: boolean;
  /** Allow only printable text (no control characters, no lone surrogates). Default true. */
  printable?: boolean;
}

export function string(rules: StringRules = {}): Check<string> {
  const { min = 0, max = 10_000, pattern, patternText, trim = false, printable = true } = rules;
  return (value, path) => {
    present(value, path);
    if (typeof value !== 'string') fail(path, `must be a string, got ${describe(value)}`);
    const s = trim ? value.trim() : value;
    if (s.length < min) fail(path, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
    if (s.length > max) fail(path, `must be at most ${max} characters, got ${s.length}`);
    if (printable && BAD_TEXT.test(s)) fail(path, 'contains control characters or invalid unicode');
    if (pattern && !pattern.test(s)) fail(path, `must be ${patternText ?? `like ${pattern}`}`);
    return s;
  };
}

export interface NumberRules {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** A number; from query strings (where everything is text) the digits are parsed strictly. */
export function number(rules: NumberRules = {}): Check<number> {
  const { min = -Number.MAX_VALUE, max = Number.MAX_VALUE, integer = false } = rules;
  return (value, path) => {
    present(value, path);
    let n: number;
    if (typeof value === 'number') n = value;
    else if (typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value)) n = Number(value);
    else fail(path, `must be a number, got ${describe(value)}`);
    if (!Number.isFinite(n)) fail(path, `must be a finite number, got ${describe(value)}`);
    if (integer && !Number.isInteger(n)) fail(path, `must be an integer, got ${n}`);
    if (n < min || n > max) fail(path, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

export function integer(min: number, max: number): Check<number> {
  return number({ min, max, integer: true });
}

/** true/false, also "true"/"false"/"1"/"0" from query strings. */
export function boolean(): Check<boolean> {
  return (value, path) => {
    present(value, path);
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    return fail(path, `must be true or false, got ${describe(value)}`);
  };
}

export function oneOf<const T extends readonly string[]>(choices: T): Check<T[number]> {
  return (value, path) => {
    present(value, path);
    if (typeof value !== 'string' || !choices.includes(value)) fail(path, `must be one of ${choices.join(', ')}, got ${describe(value)}`);
    return value as T[number];
  };
}

export function literal<const T extends string | number | boolean | null>(expected: T): Check<T> {
  return (value, path) => {
    if (value !== expected) fail(path, `must be ${JSON.stringify(expected)}, got ${describe(value)}`);
    return expected;
  };
}

/** Undefined passes through as `fallback` (or undefined). */
export function optional<T>(check: Check<T>): Check<T | undefined>;
export function optional<T>(check: Check<T>, fallback: T): Check<T>;
export function optional<T>(check: Check<T>, fallback?: T): Check<T | undefined> {
  return (value, path) => (value === undefined ? fallback : check(value, path));
}

/** Undefined, null (and optionally "") pass through as `fallback`. */
export function nullable<T, F = null>(check: Check<T>, fallback: F = null as F, emptyIsNull = false): Check<T | F> {
  return (value, path) => (value === undefined || value === null || (emptyIsNull && value === '') ? fallback : check(value, path));
}

export function anyOf<A, B>(a: Check<A>, b: Check<B>, what: string): Check<A | B> {
  return (value, path) => {
    try {
      return a(value, path);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      try {
        return b(value, path);
      } catch (err2) {
        if (!(err2 instanceof ValidationError)) throw err2;
        return fail(path, `must be ${what}, got ${describe(value)}`);
      }
    }
  };
}

export function array<T>(item: Check<T>, rules: { min?: number; max?: number } = {}): Check<T[]> {
  const { min = 0, max = 10_000 } = rules;
  return (value, path) => {
    present(value, path);
    if (!Array.isArray(value)) fail(path, `must be an array, got ${describe(value)}`);
    if (value.length < min) fail(path, `must have at least ${min} item${min === 1 ? '' : 's'}`);
    if (value.length > max) fail(path, `must have at most ${max} items, got ${value.length}`);
    return value.map((v, i) => item(v, `${path}[${i}]`));
  };
}

type Shape = Record<string, Check<unknown>>;
export type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

export interface ObjectRules {
  /** Refuse keys the schema does not name (default). Set false for protocols that ignore extras. */
  strict?: boolean;
}

export function object<S extends Shape>(shape: S, rules: ObjectRules = {}): Check<ObjectOf<S>> {
  const { strict = true } = rules;
  const keys = Object.keys(shape);
  return (value, path) => {
    present(value, path);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, `must be a JSON object, got ${describe(value)}`);
    const obj = value as Record<string, unknown>;
    if (strict) {
      for (const k of Object.keys(obj)) {
        if (!Object.prototype.hasOwnProperty.call(shape, k)) {
          fail(path ? `${path}.${k}` : k, `is not a known field; known: ${keys.join(', ') || '(none)'}`);
        }
      }
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const v = Object.prototype.hasOwnProperty.call(obj, k) ? obj[k] : undefined;
      out[k] = shape[k](v, path ? `${path}.${k}` : k);
    }
    return out as ObjectOf<S>;
  };
}

/** Runs `check` and wraps the result, e.g. to cross-check two fields. */
export function refine<T, U>(check: Check<T>, then: (value: T, path: string) => U): Check<U> {
  return (value, path) => then(check(value, path), path);
}

export function parse<T>(check: Check<T>, value: unknown, path = ''): T {
  return check(value, path);
}

export { fail as invalid };
