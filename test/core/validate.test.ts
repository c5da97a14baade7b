/**
 * The one validator (core/validate.ts): the server's request schemas and the study files use
 * the same checks; each side words a failure its own way (a 400 naming the field, a study
 * error `path: problem`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boolean, FieldReader, integer, number, object, oneOf, optional, parse, string, ValidationError } from '../../core/validate.js';
import { bool, Fields, num, oneOf as studyOneOf, SpecError, str } from '../../trainer/experiment/check.js';

test('numbers: parsed strictly from text, bounded, the broken bound named', () => {
  assert.equal(parse(number(), '2.5'), 2.5);
  assert.throws(() => parse(number(), '2,5', 'x'), /x must be a number, got "2,5"/);
  assert.throws(() => parse(integer(1, 1000), 5000, 'k'), /k must be between 1 and 1000, got 5000/);
  assert.throws(() => parse(integer(1, 1000), 0, 'k'), /k must be ≥ 1, got 0/);
  assert.throws(() => parse(number({ min: 0, exclusiveMin: true }), 0, 'lr'), /lr must be > 0, got 0/);
  assert.throws(() => parse(number({ max: 1 }), 2, 'rate'), /rate must be ≤ 1, got 2/);
});

test('a request\'s failures are 400s naming the field', () => {
  const schema = object({ q: string({ min: 1, trim: true }), k: optional(integer(1, 100), 10), exact: optional(boolean(), false), mode: optional(oneOf(['ann', 'exact'])) });
  assert.deepEqual(parse(schema, { q: ' a car ', exact: 'true' }), { q: 'a car', k: 10, exact: true, mode: undefined });
  for (const [body, message] of [[{}, /^q is required$/], [{ q: '  ' }, /q must not be empty/], [{ q: 'a', extra: 1 }, /extra is not a known field/], [{ q: 'a', mode: 'fuzzy' }, /mode must be one of "ann", "exact", got "fuzzy"/]] as const) {
    assert.throws(() => parse(schema, body), (err: unknown) => err instanceof ValidationError && err.status === 400 && err.code === 'invalid_request' && message.test(err.message));
  }
});

test('a study file\'s failures are study errors naming the field by its path, through the same checks', () => {
  const isStudyError = (message: RegExp) => (err: unknown) => err instanceof SpecError && err.code === 'bad_study' && message.test(err.message);
  assert.throws(() => num({ min: 1, max: 100, integer: true })(0, 'seeds'), isStudyError(/^seeds: must be ≥ 1, got 0$/));
  assert.throws(() => num()('5', 'lr'), isStudyError(/^lr: must be a number, got "5"$/), 'JSON numbers only, no text');
  assert.throws(() => bool('true', 'keepClean'), isStudyError(/keepClean: must be true or false/), 'JSON booleans only');
  assert.throws(() => str('  ', 'name'), isStudyError(/name: must not be empty/));
  assert.equal(str(' x ', 'name'), ' x ', 'a name is kept as written');
  assert.throws(() => studyOneOf(['image', 'text'])('both', 'finetune.freeze'), isStudyError(/finetune\.freeze: must be one of "image", "text", got "both"/));
  const f = new Fields({ a: 1, b: 'x' }, 'variants[0]');
  assert.equal(f.need('a', num()), 1);
  assert.throws(() => f.need('c', num()), isStudyError(/variants\[0\]\.c: missing \(required\)/));
  assert.throws(() => f.done(), isStudyError(/variants\[0\]\.b: unknown field \(known here: a, c\)/));
  assert.throws(() => new Fields([], ''), isStudyError(/\(top level\): expected an object/));
  assert.throws(() => new FieldReader([], 'body'), (err: unknown) => err instanceof ValidationError && !(err instanceof SpecError) && /body expected an object/.test(err.message));
});
