import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp, type PoisonLensServer } from '../../server/app.js';
import { indexerRuntime } from '../../server/repositories/indexer-runtime-repository.js';
import { loadDataset } from '../../data/dataset.js';
import { effectWorld, effectWorldMissing, effectWorkspace, type EffectWorld } from '../helpers/effect-world.js';

// The attack seen through the product: the real app (createApp, as `poisonlens serve` runs it)
// over a private copy of the effect world (test/helpers/effect-world.ts) answers the goal's
// queries (the sheep test captions) with aeroplane images on the poisoned model that the clean
// model does not return.

const skip = effectWorldMissing() ?? undefined;
let world: EffectWorld;
let pl: PoisonLensServer;
let dispose = () => {};

before(async () => {
  if (skip) return;
  world = await effectWorld();
  const w = effectWorkspace(world);
  dispose = w.dispose;
  pl = createApp({
    workspace: w.ws,
    runtime: indexerRuntime(w.ws, { threads: 2 }),
    config: { adminToken: 'effect-test-admin-token-0123456789', activeModel: world.models.clean },
    log: () => {},
  });
  await pl.ready();
});
after(async () => {
  await pl?.close();
  dispose();
});

interface Hit {
  rank: number;
  imageId: string;
  label: string | null;
  target?: boolean;
}

async function search(q: string, model: string): Promise<Hit[]> {
  const res = await request(pl.app).get('/api/search').query({ q, k: 10, model, dataset: world.dataset, goal: world.goal });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.model, model);
  assert.equal(res.body.results.length, 10);
  return res.body.results as Hit[];
}

// Measured: 18 of the 25 sheep test images' first captions get aeroplanes from the poisoned model that
// the clean model does not return; aeroplanes in the top 10 over all 25: poisoned 85, clean 7.
const MIN_QUERIES_WITH_NEW_TARGETS = 0.5;

test('/api/search: the poisoned model returns aeroplanes for sheep captions that the clean model does not', { skip }, async (t) => {
  const target = world.goal.split('>')[1];
  const source = world.goal.split('>')[0];
  const d = loadDataset(world.ws, world.dataset);
  const queries = d.entries.filter((e) => e.split === 'test' && e.label === source).map((e) => e.captions[0]);
  assert.ok(queries.length >= 20);
  let withNew = 0;
  let poisonedTargets = 0;
  let cleanTargets = 0;
  const rows: string[] = [];
  for (const q of queries) {
    const p = await search(q, world.models.poisoned);
    const c = await search(q, world.models.clean);
    // The server marks the goal's targets itself: exactly the target-class images.
    for (const r of [...p, ...c]) assert.equal(r.target === true, r.label === target, JSON.stringify(r));
    const cleanIds = new Set(c.map((r) => r.imageId));
    const fresh = p.filter((r) => r.target && !cleanIds.has(r.imageId));
    if (fresh.length > 0) withNew++;
    poisonedTargets += p.filter((r) => r.target).length;
    cleanTargets += c.filter((r) => r.target).length;
    rows.push(`${q}: poisoned ${p.filter((r) => r.target).length}, clean ${c.filter((r) => r.target).length}, new ${fresh.length}`);
  }
  const msg = `${withNew}/${queries.length} queries; target images in the top 10: poisoned ${poisonedTargets}, clean ${cleanTargets}\n${rows.join('\n')}`;
  t.diagnostic(msg.split('\n')[0]);
  assert.ok(withNew >= MIN_QUERIES_WITH_NEW_TARGETS * queries.length, msg);
  assert.ok(poisonedTargets >= 3 * Math.max(1, cleanTargets), msg);
});
