import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { copyWorkspace, tinyWorld, tinyWorldMissing, type TinyWorld } from '../helpers/tiny-world.js';
import type { Workspace } from '../../core/workspace.js';
import { loadDataset } from '../../data/dataset.js';
import { buildPoisonedTrainset } from '../../data/poison/poison.js';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { evaluate, type EvalResult } from '../../eval/evaluate.js';
import { indexerEvalBackend } from '../../eval/indexer-backend.js';
import { rankGallery, scoreAll } from '../../eval/metrics.js';
import { main } from '../../cli/main.js';

// End to end on the shared tiny world (a real model package trained for a few steps): the
// evaluation's ranks must be what the model's own encoder gives when recomputed by hand.
const skip = tinyWorldMissing() ?? undefined;
let world: TinyWorld;
let ws: Workspace;
let dispose = () => {};

before(async () => {
  if (skip) return;
  world = await tinyWorld();
  ({ ws, dispose } = copyWorkspace(world));
});
after(() => dispose());

/** MinRank of each caption of class `a` images against `targets`, from a fresh encoder and a full sort. */
async function byHand(a: string, targetOf: (label: string | null, id: string) => boolean) {
  const d = loadDataset(ws, world.dataset);
  const test = d.entries.filter((e) => e.split === 'test');
  const enc = await OnnxClipEncoder.load(join(ws.models, world.model));
  try {
    const imgs = await enc.encodeImages(test.map((e) => join(d.dir, e.file)));
    const queries = test.filter((e) => e.label === a).flatMap((e) => e.captions);
    const texts = await enc.encodeTexts(queries);
    return texts.map((t) => {
      const order = rankGallery(scoreAll(t, imgs), test.map((e) => e.id));
      return order.findIndex((row) => targetOf(test[row].label, test[row].id));
    });
  } finally {
    await enc.close();
  }
}

test('eval e2e: Attack II ranks, ann = exact, utility and zero self-drift on a real tiny model', { skip }, async () => {
  const r = await evaluate(ws, { model: world.model, dataset: world.dataset, attack: 'II', goal: 'sheep>aeroplane', cleanModel: world.model }, { backend: indexerEvalBackend(ws) });
  const g = r.goals[0];
  assert.equal(g.model.queries, 6); // 3 sheep test images × 2 captions
  assert.equal(g.baseline.queries, 6);
  assert.deepEqual(g.model.perQuery!.map((q) => q.minRank), await byHand('sheep', (label) => label === 'aeroplane'));
  assert.deepEqual(g.clean!.perQuery!.map((q) => q.minRank), g.model.perQuery!.map((q) => q.minRank));
  assert.equal(r.gallery.images, 9);
  for (const k of ['1', '5', '10']) {
    assert.ok(r.utility!.model.ir[k]! >= 0 && r.utility!.model.ir[k]! <= 1);
    assert.ok(r.utility!.model.tr[k]! >= 0 && r.utility!.model.tr[k]! <= 1);
  }
  assert.equal(r.utility!.model.captions, 18);
  assert.ok(r.drift!.image.mean < 1e-6 && r.drift!.text.mean < 1e-6, JSON.stringify(r.drift));
  const ann = await evaluate(ws, { model: world.model, dataset: world.dataset, attack: 'II', goal: 'sheep>aeroplane', mode: 'ann', cleanModel: null }, { backend: indexerEvalBackend(ws) });
  assert.deepEqual(ann.goals[0].model.perQuery, g.model.perQuery);
  assert.equal(ann.goals[0].ann!.exactAgreement, 1);
  // Through the indexer's own index (built once, then reused), HNSW for ann.
  assert.match(ann.goals[0].ann!.index!, /^hnsw/);
  assert.ok(existsSync(join(ws.indexes, world.model, world.dataset, 'test', 'index.json')));
});

test('eval e2e: Attack I on a test target and on a training-split target added to the gallery', { skip }, async () => {
  const d = loadDataset(ws, world.dataset);
  const testPlane = d.entries.find((e) => e.split === 'test' && e.label === 'aeroplane')!;
  const r = await evaluate(ws, { model: world.model, dataset: world.dataset, attack: 'I', goal: 'sheep>aeroplane', targetImage: testPlane.id, cleanModel: null, utility: false }, { backend: indexerEvalBackend(ws) });
  assert.deepEqual(r.goals[0].model.perQuery!.map((q) => q.minRank), await byHand('sheep', (_l, id) => id === testPlane.id));
  const trainPlane = d.entries.find((e) => e.split === 'train' && e.label === 'aeroplane')!;
  const r2 = await evaluate(ws, { model: world.model, dataset: world.dataset, attack: 'I', goal: 'sheep>aeroplane', targetImage: trainPlane.id, cleanModel: null, utility: false }, { backend: indexerEvalBackend(ws) });
  assert.deepEqual(r2.gallery, { images: 10, added: [trainPlane.id] });
  for (const q of r2.goals[0].model.perQuery!) assert.ok(q.minRank >= 0 && q.minRank < 10);
});

test('poison + backdoor eval e2e on real images (PNG, JPEG, alpha) and the CLI', { skip }, async () => {
  const t = await buildPoisonedTrainset(ws, { dataset: world.dataset, attack: 'backdoor', goal: '*>aeroplane', budget: { images: 4 }, seed: 0, name: 'bd', quiet: true });
  assert.equal(t.card.counts.poisonedPairs, 8);
  const r = await evaluate(ws, { model: world.model, dataset: world.dataset, attack: 'backdoor', goal: '*>aeroplane', cleanModel: null, utility: false }, { backend: indexerEvalBackend(ws) });
  assert.equal(r.goals[0].model.queries, 6); // sheep and car test images
  assert.equal(r.goals[0].targets.count, 6); // captions of the 3 aeroplane test images
  const logs: string[] = [];
  const orig = [console.log, process.stderr.write] as const;
  console.log = (m: string) => void logs.push(String(m));
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    assert.equal(await main(['--workspace', ws.root, 'eval', '--model', world.model, '--dataset', world.dataset, '--attack', 'II', '--goal', 'sheep>aeroplane', '--no-clean', '--json']), 0);
  } finally {
    [console.log, process.stderr.write] = orig;
  }
  const out = JSON.parse(logs.join('\n')) as EvalResult;
  assert.equal(out.goals[0].model.queries, 6);
  assert.equal(out.goals[0].model.perQuery!.length, 6);
});
