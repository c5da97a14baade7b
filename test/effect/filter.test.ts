import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EFFECT_RECIPE, effectWorld, effectWorldMissing, goalNumbers, type EffectWorld } from '../helpers/effect-world.js';

// The paper's pre-training defence on the effect world (test/helpers/effect-world.ts):
// `defend filter --gamma auto` with the base as the reference model drops the poisoned pairs of
// the Attack II pool, and the model fine-tuned on what is left is back near the clean fine-tune.

const skip = effectWorldMissing() ?? undefined;
let world: EffectWorld;

before(async () => {
  if (skip) return;
  world = await effectWorld();
});

// Measured: γ 0.544 (the 0.99 quantile of 200 recorded-clean pairs), 92 of 2,500 pairs dropped:
// 48 of the 50 poisoned (recall 0.96), 44 clean (0.018 of the clean pairs lost); ROC AUC 0.988.
const MIN_RECALL = 0.9;
const MAX_CLEAN_LOST = 0.05;

test('the filter (auto γ) catches the poisoned pairs and few clean ones', { skip }, (t) => {
  const m = world.filter.metrics;
  const msg = JSON.stringify(world.filter);
  t.diagnostic(msg);
  assert.equal(m.poisoned, EFFECT_RECIPE.pool.sourceImages * 5, `every caption of the ${EFFECT_RECIPE.pool.sourceImages} sheep images is poisoned: ${msg}`);
  assert.ok(m.recall !== null && m.recall >= MIN_RECALL, `recall below ${MIN_RECALL}: ${msg}`);
  assert.ok(m.cleanLost !== null && m.cleanLost <= MAX_CLEAN_LOST, `too many clean pairs lost: ${msg}`);
  // The filtered training set really lacks them (what the retrained model saw).
  const lines = readFileSync(join(world.root, 'trainsets', EFFECT_RECIPE.filter.trainset, 'pairs.jsonl'), 'utf8').split('\n').filter(Boolean);
  const left = lines.filter((l) => JSON.parse(l).poisoned === true).length;
  assert.equal(lines.length, m.pairs - m.dropped);
  assert.equal(left, m.poisoned - m.poisonedDropped, msg);
});

// Measured: Hit@10 clean 0.264, poisoned 0.808, retrained on the filtered set 0.248.
const NEAR_CLEAN = 0.15;
const MIN_POISONED_GAIN = 0.3;

test('the model retrained on the filtered set is back near the clean model (and far from the poisoned one)', { skip }, async (t) => {
  const clean = await goalNumbers(world, 'clean');
  const poisoned = await goalNumbers(world, 'poisoned');
  const filtered = await goalNumbers(world, 'filtered');
  const msg = JSON.stringify({ clean, poisoned, filtered });
  t.diagnostic(msg);
  // The filter has something to undo: without it the attack works.
  assert.ok(poisoned.hit10 >= clean.hit10 + MIN_POISONED_GAIN, `the poisoned model is not poisoned: ${msg}`);
  assert.ok(filtered.hit10 <= clean.hit10 + NEAR_CLEAN, `filtered Hit@10 not within ${NEAR_CLEAN} of clean: ${msg}`);
  assert.ok(filtered.hit10 <= poisoned.hit10 - MIN_POISONED_GAIN, `filtered Hit@10 near the poisoned model's: ${msg}`);
});
