import { array, boolean, describe, FieldReader, isObject, nullable as orNull, number, oneOf as choiceOf, string, ValidationError, type Check, type NumberRules } from '../../core/validate.js';

/**
 * Study files are read with the code base's one validator (core/validate.ts); here its failures
 * become study errors, one line naming the field by its path (e.g. `variants[2].goal: …`), so a
 * bad study file says exactly what to fix.
 */
export class SpecError extends ValidationError {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(field, problem, `${field}: ${problem}`, 'bad_study');
  }
}

export type { Check };
export { isObject };

export function fail(path: string, problem: string): never {
  throw new SpecError(path, problem);
}

/** `check` with its failures as study errors. */
function inStudy<T>(check: Check<T>): Check<T> {
  return (v, p) => {
    try {
      return check(v, p);
    } catch (err) {
      if (err instanceof ValidationError && !(err instanceof SpecError)) fail(err.path, err.rule);
      throw err;
    }
  };
}

// Values in a study file are JSON: no text for numbers or booleans, no length limits on lists or names.
export const str: Check<string> = inStudy(string({ min: 1, max: Infinity, notBlank: true, printable: false }));
export const bool: Check<boolean> = inStudy(boolean({ fromText: false }));

export function num(opts: NumberRules = {}): Check<number> {
  const check = number(opts);
  return inStudy((v, p) => (typeof v === 'number' ? check(v, p) : fail(p, `must be a number, got ${describe(v)}`)));
}

export function oneOf<T extends string>(values: readonly T[]): Check<T> {
  return inStudy(choiceOf(values));
}

export function nullable<T>(c: Check<T>): Check<T | null> {
  return inStudy(orNull(c));
}

export function arrayOf<T>(c: Check<T>, opts: { min?: number } = {}): Check<T[]> {
  return inStudy(array(c, { min: opts.min, max: Infinity }));
}

/** A study object's fields (core's reader), failing as study errors. */
export class Fields extends FieldReader {
  protected override invalid(path: string, problem: string): never {
    return fail(path, problem);
  }
}
