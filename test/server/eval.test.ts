import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { evaluate } from '../../eval/evaluate.js';
import { indexerEvalBackend } from '../../eval/indexer-backend.js';
import { harness, skipReason, type Harness } from './harness.js';

let h: Harness;
before(async () => {
  if (!skipReason) h = await harness();
});
after(async () => h?.close());

test('POST /api/eval returns the same attack metrics as evaluate()', { skip: skipReason }, async () => {
  const { world } = h;
  const res = await request(h.pl.app)
    .post('/api/eval')
    .send({ model: world.poisoned, dataset: world.dataset, attack: 'II', goal: world.goal, k: [1, 5], mode: 'exact' })
    .expect(200);
  const direct = await evaluate(h.ws, { model: world.poisoned, dataset: world.dataset, attack: 'II', goal: world.goal, ks: [1, 5], mode: 'exact', utility: false, drift: false, perQuery: false }, { backend: indexerEvalBackend(h.ws) });
  assert.equal(res.body.model, world.poisoned);
  assert.deepEqual(res.body.ks, [1, 5]);
  assert.equal(res.body.goals.length, 1);
  const [got] = res.body.goals;
  assert.deepEqual(got.model.hit, direct.goals[0].model.hit);
  assert.deepEqual(got.model.minRank, direct.goals[0].model.minRank);
  assert.equal(got.model.queries, direct.goals[0].model.queries);
  assert.ok(got.model.queries > 0);
  assert.equal(got.model.perQuery, undefined, 'per-query ranks only on request');
});

test('POST /api/eval rejects bad bodies with a 4xx naming the field', { skip: skipReason }, async () => {
  const { world } = h;
  const cases: Array<[unknown, RegExp]> = [
    [{ dataset: world.dataset, attack: 'II' }, /model/],
    [{ model: world.poisoned, dataset: world.dataset, attack: 'IV' }, /attack/],
    [{ model: world.poisoned, dataset: world.dataset, attack: 'II', goal: 'sheep' }, /goal/],
    [{ model: world.poisoned, dataset: world.dataset, attack: 'II', k: [0] }, /k/],
    [{ model: world.poisoned, dataset: world.dataset, attack: 'II', mode: 'fast' }, /mode/],
    [{ model: '../etc', dataset: world.dataset, attack: 'II' }, /model/],
  ];
  for (const [body, field] of cases) {
    const res = await request(h.pl.app).post('/api/eval').send(body as object);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.error.message, field);
  }
  const missing = await request(h.pl.app).post('/api/eval').send({ model: 'no-such-model', dataset: world.dataset, attack: 'II', goal: world.goal });
  assert.ok(missing.status >= 400 && missing.status < 500, `unknown model → ${missing.status}`);
  assert.ok(missing.body.error.message);
});
