/** Study building blocks without the engine: t-intervals, content ids, study parsing and sweeps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStudy } from '../../trainer/experiment/experiment.js';
import { interval, tCritical } from '../../eval/statistics.js';
import { contentId, stableStringify } from '../../trainer/experiment/hash.js';
import { shiftGoalSets } from '../../trainer/experiment/study-variants.js';
import { expandVariants } from '../../trainer/experiment/spec.js';
import { isUserError } from '../../core/errors.js';

test('t critical values and 95% intervals match the tables', () => {
  assert.ok(Math.abs(tCritical(1) - 12.7062) < 1e-3);
  assert.ok(Math.abs(tCritical(2) - 4.3027) < 1e-3);
  assert.ok(Math.abs(tCritical(10) - 2.2281) < 1e-3);
  const i = interval([0.9, 0.94, 0.98]);
  // mean 0.94, sd 0.04, half-width 4.3027 * 0.04 / sqrt(3)
  assert.ok(Math.abs(i.mean! - 0.94) < 1e-12);
  assert.ok(Math.abs(i.sd! - 0.04) < 1e-12);
  assert.ok(Math.abs(i.hi! - i.mean! - (4.302653 * 0.04) / Math.sqrt(3)) < 1e-5);
  assert.deepEqual(interval([0.5]), { mean: 0.5, lo: null, hi: null, sd: null, n: 1, values: [0.5] });
  assert.equal(interval([null, undefined]).mean, null);
});

test('content ids ignore key order and change with any input', () => {
  assert.equal(stableStringify({ b: 1, a: [1, { d: 2, c: 3 }], u: undefined }), '{"a":[1,{"c":3,"d":2}],"b":1}');
  assert.equal(contentId('ts', { a: 1, b: 2 }), contentId('ts', { b: 2, a: 1 }));
  assert.notEqual(contentId('ts', { a: 1 }), contentId('ts', { a: 2 }));
  assert.match(contentId('clean', {}), /^clean-[0-9a-f]{12}$/);
});

const minimal = (extra: Record<string, unknown> = {}) => ({ id: 't', datasets: { tiny: {} }, variants: [{ name: 'clean', kind: 'clean' }], ...extra });

test('parseStudy: defaults, sweeps and clean references', () => {
  const s = parseStudy(minimal({
    seeds: 2,
    sweep: { 'finetune.epochs': [0, 1] },
    variants: [
      { name: 'clean', kind: 'clean' },
      { name: 'p', kind: 'attack', attack: 'II', goal: 'sheep>car', rate: 0.01, finetune: { lr: 2e-4 } },
    ],
  }));
  assert.deepEqual(s.seeds, [0, 1]);
  assert.deepEqual(s.variants.map((v) => v.name), ['clean@finetune.epochs=0', 'clean@finetune.epochs=1', 'p@finetune.epochs=0', 'p@finetune.epochs=1']);
  assert.equal(s.variants[3].finetune.epochs, 1);
  assert.equal(s.variants[3].finetune.lr, 2e-4);
  assert.equal(s.variants[1].finetune.lr, 2e-4, 'the study default');
  assert.equal(s.variants[3].clean, 'clean');
  assert.deepEqual(s.variants[3].fields.budget, { rate: 0.01 });
  const steps = parseStudy(minimal({ variants: [{ name: 'clean', kind: 'clean', finetune: { steps: 5 } }] }));
  assert.equal(steps.variants[0].finetune.steps, 5);
  assert.equal(steps.variants[0].finetune.epochs, null, 'steps replace the inherited epochs');
});

test('goal "all": every ordered pair once, as 19 shifted injections or one goal per variant', () => {
  const classes = ['a', 'b', 'c', 'd'];
  const sets = shiftGoalSets(classes);
  assert.equal(sets.length, 3);
  const pairs = sets.flat();
  assert.equal(new Set(pairs).size, 12);
  for (const set of sets) assert.equal(new Set(set.map((g) => g.split('>')[0])).size, 4, 'each class is a source once per injection');
  const s = parseStudy(minimal({ variants: [{ name: 'all', kind: 'attack', attack: 'III', goal: 'all', poisonImages: 1 }] }));
  const ex = expandVariants(s, { classes });
  assert.equal(ex.length, 3);
  assert.equal(ex[0].setting!.field, 'goal');
  const single = parseStudy(minimal({ variants: [{ name: 'all', kind: 'attack', attack: 'II', goal: 'all', grouping: 'single', poisonImages: 1 }] }));
  assert.equal(expandVariants(single, { classes }).length, 12);
});

test('parseStudy: bad fields are one-line errors naming the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [[], /\(top level\): expected an object/],
    [minimal({ seeds: 0 }), /seeds: must be ≥ 1/],
    [minimal({ base: { model: 'm', epochs: 1 } }), /base\.model: an existing base model takes no training settings/],
    [minimal({ finetune: { epochs: 1, steps: 2 } }), /finetune\.steps: give epochs or steps, not both/],
    [minimal({ finetune: { freeze: 'both' } }), /finetune\.freeze: must be one of "image", "text"/],
    [minimal({ evaluation: { ks: [1, 5] } }), /evaluation\.ks: must include 10/],
    [minimal({ evaluation: { mode: 'fuzzy' } }), /evaluation\.mode: must be one of/],
    [minimal({ variants: [{ name: 'x', kind: 'attack', attack: 'III', goal: 'sheep>car', rate: 0.1 }] }), /variants\[0\]\.goal: attack III takes two or more goals/],
    [minimal({ variants: [{ name: 'x', kind: 'attack', attack: 'II', goal: 'a>b', rate: 0.1, poisonImages: 3 }] }), /variants\[0\]\.rate: give poisonImages or rate, not both/],
    [minimal({ variants: [{ name: 'x', kind: 'attack', attack: 'II', goal: 'a>b', rate: 0.1, targetImage: 'i' }] }), /variants\[0\]\.targetImage: only attack I/],
    [minimal({ variants: [{ name: 'x', kind: 'clean', colour: 'red' }] }), /variants\[0\]\.colour: unknown field/],
    [minimal({ variants: [{ name: 'x', kind: 'clean' }, { name: 'x', kind: 'base' }] }), /variants\[1\]\.name: variant name "x" is used twice/],
    [minimal({ variants: [{ name: 'x', kind: 'attack', attack: 'II', goal: 'a>b', rate: 0.1, clean: 'nope' }] }), /variants\[0\]\.clean: no variant named "nope"/],
    [minimal({ report: { heatmap: 'nope' } }), /report\.heatmap: no variant named "nope"/],
    [minimal({ dataset: 'other' }), /dataset: "other" is not among datasets/],
    [minimal({ sweep: { rate: [1], lr: [2] } }), /sweep: sweeps one field at a time/],
  ];
  for (const [body, want] of cases) {
    try {
      parseStudy(body, 'x.json');
      assert.fail(`accepted ${JSON.stringify(body)}`);
    } catch (err) {
      assert.ok(isUserError(err), String(err));
      assert.match((err as Error).message, /^study x\.json: /);
      assert.match((err as Error).message, want);
      assert.ok(!(err as Error).message.includes('\n'));
    }
  }
});
