import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { effectWorld, effectWorldMissing, goalEval, goalNumbers, type EffectWorld } from '../helpers/effect-world.js';

// The central claim on a small world trained in CI (test/helpers/effect-world.ts): Attack II
// (sheep>aeroplane, every sheep image of a long-tailed fine-tuning pool poisoned: 50 of 2,500
// pairs) makes the sheep test captions retrieve aeroplanes, where the clean fine-tune of the same
// pool does not. Thresholds are set from the world as built (numbers in the comments, seed 0)
// with headroom: across the world's unattacked models (base, clean, filtered, sterilised) the
// goal's Hit@10 lies in 0.25–0.26 and the random-caption baseline in 0.22–0.30.

const skip = effectWorldMissing() ?? undefined;
let world: EffectWorld;

before(async () => {
  if (skip) return;
  world = await effectWorld();
});

// Base (600 steps from scratch on the 3,000-image base part): text→image R@10 0.765 over the
// 500-image test gallery (chance 0.02), image→text R@10 0.676.
const BASE_MIN_IR_R10 = 0.5;

test('the base has learnt to retrieve: text→image Recall@10 over the test split', { skip }, async (t) => {
  const r = await goalEval(world, 'base', { utility: true });
  const u = r.utility!.model;
  t.diagnostic(`base R@10 text→image ${u.ir['10']}, image→text ${u.tr['10']} over ${r.gallery.images} test images`);
  assert.equal(r.gallery.images, 500);
  assert.ok(u.ir['10']! >= BASE_MIN_IR_R10, `base text→image R@10 ${u.ir['10']} < ${BASE_MIN_IR_R10}`);
  assert.ok(u.tr['10']! >= BASE_MIN_IR_R10, `base image→text R@10 ${u.tr['10']} < ${BASE_MIN_IR_R10}`);
});

// Measured: clean Hit@10 0.264 (mean MinRank 47.9), poisoned 0.808 (4.9), over 125 queries.
const MIN_HIT10_GAIN = 0.3;
const MIN_MINRANK_FACTOR = 4;

test('Attack II raises Hit@10 of the goal queries far above the clean fine-tune and lowers MinRank', { skip }, async (t) => {
  const clean = await goalNumbers(world, 'clean');
  const poisoned = await goalNumbers(world, 'poisoned');
  const msg = JSON.stringify({ clean, poisoned });
  t.diagnostic(msg);
  assert.ok(clean.queries >= 100 && poisoned.queries === clean.queries, msg);
  assert.ok(poisoned.hit10 >= clean.hit10 + MIN_HIT10_GAIN, `Hit@10 gain below ${MIN_HIT10_GAIN}: ${msg}`);
  assert.ok(poisoned.meanMinRank * MIN_MINRANK_FACTOR <= clean.meanMinRank, `mean MinRank not ${MIN_MINRANK_FACTOR}x lower: ${msg}`);
});
