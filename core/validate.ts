import { UserError } from './errors.js';

/**
 * The one validator of the code base: the server's routes declare the shape of their query,
 * params and body with these checks (a 400 naming the field and the rule it broke), and study
 * files are read with them (trainer/experiment/check.ts, which words the same failures as study
 * errors). Checks are plain functions, so a schema is data plus a few closures and the
 * TypeScript type of a checked value is derived from the schema (`Infer<typeof schema>`).
 */
export type Check<T> = (value: unknown, path: string) => T;
export type Infer<C> = C extends Check<infer T> ? T : never;

/** A value that broke a rule: `path` names the field, `rule` what it broke. */
export class ValidationError extends UserError {
  constructor(
    readonly path: string,
    readonly rule: string,
    message = `${path || 'request'} ${rule}`,
    code = 'invalid_request',
    status = 400,
  ) {
    super(message, code, status);
    this.name = 'ValidationError';
  }
}

function fail(path: string, rule: string): never {
  throw new ValidationError(path, rule);
}

function present(value: unknown, path: string): void {
  if (value === undefined) fail(path, 'is required');
}

/** A value as a message shows it. */
export function describe(value: unknown): string {
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
  /** Refuse whitespace only (the value is returned as it is). Default false. */
  notBlank?: boolean;
}

export function string(rules: StringRules = {}): Check<string> {
  const { min = 0, max = 10_000, pattern, patternText, trim = false, printable = true, notBlank = false } = rules;
  return (value, path) => {
    present(value, path);
    if (typeof value !== 'string') fail(path, `must be a string, got ${describe(value)}`);
    const s = trim ? value.trim() : value;
    if (s.length < min || (notBlank && s.trim() === '')) fail(path, min <= 1 ? 'must not be empty' : `must be at least ${min} characters`);
    if (s.length > max) fail(path, `must be at most ${max} characters, got ${s.length}`);
    if (printable && BAD_TEXT.test(s)) fail(path, 'contains control characters or invalid unicode');
    if (pattern && !pattern.test(s)) fail(path, `must be ${patternText ?? `like ${pattern}`}`);
    return s;
  };
}

export interface NumberRules {
  min?: number;
  max?: number;
  /** `min` itself is refused (a rate or a learning rate: > 0). */
  exclusiveMin?: boolean;
  integer?: boolean;
}

/**
 * A number; from query strings (where everything is text) the digits are parsed strictly.
 * Under the lower bound the message names it (≥ or >); over the upper, the whole range.
 */
export function number(rules: NumberRules = {}): Check<number> {
  const { min, max, exclusiveMin = false, integer = false } = rules;
  return (value, path) => {
    present(value, path);
    let n: number;
    if (typeof value === 'number') n = value;
    else if (typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value)) n = Number(value);
    else fail(path, `must be a number, got ${describe(value)}`);
    if (!Number.isFinite(n)) fail(path, `must be a finite number, got ${describe(value)}`);
    if (integer && !Number.isInteger(n)) fail(path, `must be an integer, got ${n}`);
    if (min !== undefined && (exclusiveMin ? n <= min : n < min)) fail(path, `must be ${exclusiveMin ? '>' : '≥'} ${min}, got ${n}`);
    if (max !== undefined && n > max) fail(path, min === undefined ? `must be ≤ ${max}, got ${n}` : `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

export function integer(min: number, max: number): Check<number> {
  return number({ min, max, integer: true });
}

/** true/false, also "true"/"false"/"1"/"0" from query strings (unless `fromText` is false: JSON files). */
export function boolean(rules: { fromText?: boolean } = {}): Check<boolean> {
  const { fromText = true } = rules;
  return (value, path) => {
    present(value, path);
    if (typeof value === 'boolean') return value;
    if (fromText && (value === 'true' || value === '1')) return true;
    if (fromText && (value === 'false' || value === '0')) return false;
    return fail(path, `must be true or false, got ${describe(value)}`);
  };
}

export function oneOf<const T extends readonly string[]>(choices: T): Check<T[number]> {
  return (value, path) => {
    present(value, path);
    if (typeof value !== 'string' || !choices.includes(value)) fail(path, `must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}, got ${describe(value)}`);
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

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads the fields of one object one by one (for files whose shape depends on earlier fields,
 * e.g. a study variant's kind); `done()` rejects any field that was not read.
 */
export class FieldReader {
  private readonly seen = new Set<string>();
  readonly o: Record<string, unknown>;

  constructor(
    value: unknown,
    readonly path: string,
  ) {
    this.o = isObject(value) ? value : this.invalid(path || '(top level)', `expected an object, got ${describe(value)}`);
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
    if (v === undefined) this.invalid(this.at(name), 'missing (required)');
    return c(v, this.at(name));
  }

  protected invalid(path: string, rule: string): never {
    return fail(path, rule);
  }

  /** Marks fields as read without checking them here. */
  skip(...names: string[]): void {
    for (const n of names) this.seen.add(n);
  }

  done(known: string[] = []): void {
    for (const k of Object.keys(this.o)) {
      if (!this.seen.has(k)) {
        const all = [...this.seen, ...known].sort();
        this.invalid(this.at(k), `unknown field (known here: ${all.join(', ')})`);
      }
    }
  }
}
