import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EFFECT_RECIPE, effectWorld, effectWorldMissing, goalNumbers, type EffectWorld } from '../helpers/effect-world.js';
import { readModelPackage } from '../../indexer/package.js';
import { join } from 'node:path';

// The paper's post-training defence on the effect world (test/helpers/effect-world.ts):
// `defend sterilize` fine-tunes the poisoned model on the clean pool and the attack fades.

const skip = effectWorldMissing() ?? undefined;
let world: EffectWorld;

before(async () => {
  if (skip) return;
  world = await effectWorld();
});

// Measured: Hit@10 poisoned 0.808 (mean MinRank 4.9) → sterilised by 40 steps of clean
// fine-tuning 0.248 (30.0); clean 0.264.
const MIN_POISONED_GAIN = 0.3;
const MIN_DROP = 0.3;

test('sterilisation lowers the poisoned model\'s Hit@10', { skip }, async (t) => {
  const card = readModelPackage(join(world.root, 'models', world.models.sterilized)).card;
  assert.equal(card.kind, 'defended');
  assert.equal(card.parent, world.models.poisoned);
  assert.equal((card.defence as { steps?: number }).steps, EFFECT_RECIPE.sterilize.steps);
  const clean = await goalNumbers(world, 'clean');
  const poisoned = await goalNumbers(world, 'poisoned');
  const sterilized = await goalNumbers(world, 'sterilized');
  const msg = JSON.stringify({ clean, poisoned, sterilized });
  t.diagnostic(msg);
  assert.ok(poisoned.hit10 >= clean.hit10 + MIN_POISONED_GAIN, `the poisoned model is not poisoned: ${msg}`);
  assert.ok(sterilized.hit10 <= poisoned.hit10 - MIN_DROP, `sterilisation lowered Hit@10 by less than ${MIN_DROP}: ${msg}`);
  assert.ok(sterilized.meanMinRank > poisoned.meanMinRank, msg);
});
