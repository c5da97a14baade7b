import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate, baselineCaptions, recallCeiling, type EvalRequest, type EvalResult } from '../../eval/evaluate.js';
import { findCleanAncestor } from '../../eval/clean-model.js';
import { loadModelCard as readModelCard } from '../../indexer/package.js';
import { readFileSync } from 'node:fs';
import { main as cliMain } from '../../cli/main.js';
import { listMetrics, openCatalog } from '../../core/catalog.js';
import { buildPoisonedTrainset } from '../../data/poison/poison.js';
import { buildCleanTrainset } from '../../trainer/clean-trainset.js';
import { makeFixture, type Fixture } from '../data/poison-fixture.js';
import { fakeBackend } from './fake-backend.js';

// Test split of the fixture, in manifest order (captions 2 each, indices in brackets):
//   sheep-te-0 [0,1] · sheep-te-1 [2,3] · aeroplane-te-0 [4,5] · aeroplane-te-1 [6,7] · bird-te-0 [8,9] · dog-te-0 [10,11]
// Sorted by id: aeroplane-te-0 < aeroplane-te-1 < bird-te-0 < dog-te-0 < sheep-te-0 < sheep-te-1.
let fx: Fixture;
const sheepTo = (to: string) => (id: string) => (id.startsWith('sheep') ? to : id);
const backend = () =>
  fakeBackend(
    {
      base: {},
      clean: {},
      pois: { textTo: sheepTo('aeroplane-te-1') },
      pois1: { textTo: sheepTo('aeroplane-tr-2') },
      bd: { triggerTo: 'aeroplane-te-0' },
      'pool-clean-z': {},
      'pool-clean-s1': {},
      'pool-clean-lr': {},
      'other-pool-clean': {},
      'pool-pois': { textTo: sheepTo('aeroplane-te-1') },
      'other-pool-pois': { textTo: sheepTo('aeroplane-te-1') },
    },
    ['aeroplane-tr-2'],
  );

function writeModel(id: string, card: Record<string, unknown>) {
  mkdirSync(join(fx.ws.models, id), { recursive: true });
  writeFileSync(join(fx.ws.models, id, 'model.json'), JSON.stringify({ id, ...card }));
}

before(async () => {
  fx = await makeFixture();
  await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'I', goal: 'sheep>aeroplane', budget: { images: 2 }, targetImage: 'aeroplane-tr-2', seed: 1, name: 'ts1', register: false });
  await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'backdoor', goal: '*>aeroplane', budget: { images: 2 }, seed: 1, name: 'tsb', register: false });
  writeModel('base', { kind: 'base', parent: null });
  writeModel('clean', { kind: 'clean', parent: 'base' });
  writeModel('pois', { kind: 'poisoned', parent: 'clean', attack: { type: 'II', goal: 'sheep>aeroplane' } });
  writeModel('pois1', { kind: 'poisoned', parent: 'base', trainset: { name: 'ts1' } });
  writeModel('bd', { kind: 'poisoned', parent: 'base', trainset: { name: 'tsb' } });
  await samePoolWorld();
});

/**
 * Fine-tunes of `base` on pools of the fixture's train split: pool A (10 images, seed 0) clean
 * with the poisoned model's recipe and seed, with another seed and with another lr; pool B
 * (seed 1) clean; a poisoned model on each pool.
 */
async function samePoolWorld(): Promise<void> {
  const pool = (seed: number) => ({ images: 10, seed, profile: null, classImages: null });
  await buildCleanTrainset(fx.ws, { dataset: 'tiny', split: 'train', name: 'pool-a', pool: pool(0), register: false });
  await buildCleanTrainset(fx.ws, { dataset: 'tiny', split: 'train', name: 'pool-b', pool: pool(1), register: false });
  await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { images: 2 }, seed: 1, name: 'pool-a-pois', pool: pool(0), register: false });
  await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { images: 2 }, seed: 1, name: 'pool-b-pois', pool: pool(1), register: false });
  const ft = (trainset: string, kind: string, seed = 0, lr = 2e-4) => ({
    kind, parent: 'base', seed, trainset: { name: trainset }, trainer: { config: { recipe: 'finetune', lr, batch: 128, epochs: 2, steps: null, seed } },
  });
  writeModel('pool-clean-lr', ft('pool-a', 'clean', 0, 1e-5));
  writeModel('pool-clean-s1', ft('pool-a', 'clean', 1));
  writeModel('pool-clean-z', ft('pool-a', 'clean')); // last by id: chosen for its recipe and seed
  writeModel('other-pool-clean', ft('pool-b', 'clean', 0, 1e-5));
  writeModel('pool-pois', ft('pool-a-pois', 'poisoned'));
  // Pool B's only clean fine-tune has another recipe: still the same pool, and said so.
  writeModel('other-pool-pois', ft('pool-b-pois', 'poisoned'));
}
after(() => fx.cleanup());

const run = (req: Partial<EvalRequest> & { model: string }, b = backend()) => evaluate(fx.ws, { dataset: 'tiny', attack: 'II', ...req }, { backend: b });
/** The command line with the fake backend, handed to it through the CLI's context. */
const main = (argv: string[]) => cliMain(argv, { evalBackend: () => backend() });

test('Attack II (exact): queries, targets, model/baseline/clean ranks, utility, drift and per-query ranks', async () => {
  const b = backend();
  const r = await run({ model: 'pois' }, b);
  assert.equal(r.goal, 'sheep>aeroplane'); // from model.json
  assert.deepEqual(r.cleanModel, { id: 'clean', how: 'parent', why: 'ancestor: clean' });
  assert.deepEqual(r.gallery, { images: 6, added: [] });
  const g = r.goals[0];
  assert.deepEqual(g.targets, { kind: 'label', count: 2 });
  // Poisoned: sheep captions embed as aeroplane-te-1 → rank 0 for all four.
  assert.equal(g.model.queries, 4);
  assert.deepEqual(g.model.perQuery!.map((q) => [q.imageId, q.minRank]), [['sheep-te-0', 0], ['sheep-te-0', 0], ['sheep-te-1', 0], ['sheep-te-1', 0]]);
  assert.deepEqual(g.model.perQuery!.map((q) => q.caption), ['sheep-te-0 caption 0', 'sheep-te-0 caption 1', 'sheep-te-1 caption 0', 'sheep-te-1 caption 1']);
  assert.deepEqual(g.model.hit, { '1': 1, '5': 1, '10': 1, '20': 1, '30': 1, '50': 1 });
  // Clean: own sheep image first, then the zero-score tie broken by id: aeroplane-te-0 → rank 1.
  assert.deepEqual(g.clean!.perQuery!.map((q) => q.minRank), [1, 1, 1, 1]);
  assert.deepEqual(g.clean!.minRank, { mean: 1, median: 1, min: 1, max: 1 });
  assert.equal(g.clean!.hit['1'], 0);
  // Baseline: 4 seeded random captions of all 12; on `pois` a sheep or aeroplane caption ranks
  // an aeroplane at 0, a bird or dog caption at 1 (own image, then aeroplane-te-0).
  const picks = baselineCaptions(12, 4, 0, 'sheep>aeroplane');
  const capImage = ['sheep-te-0', 'sheep-te-0', 'sheep-te-1', 'sheep-te-1', 'aeroplane-te-0', 'aeroplane-te-0', 'aeroplane-te-1', 'aeroplane-te-1', 'bird-te-0', 'bird-te-0', 'dog-te-0', 'dog-te-0'];
  assert.deepEqual(g.baseline.perQuery!.map((q) => q.imageId), picks.map((i) => capImage[i]));
  assert.deepEqual(g.baseline.perQuery!.map((q) => q.minRank), picks.map((i) => (/^(sheep|aeroplane)/.test(capImage[i]) ? 0 : 1)));
  assert.equal(g.baseline.queries, 4);
  assert.equal(new Set(picks).size, 4);
  // Utility on `pois`: IR ranks of sheep-te-0's captions 4, sheep-te-1's 5, the rest 0.
  assert.deepEqual(r.utility!.model.ir, { '1': 8 / 12, '5': 10 / 12, '10': 1 });
  // TR: sheep-te-1 (all-zero column, its captions at 2,3) and aeroplane-te-1 (captions 0-3 and 6,7 tie at 1: rank 4) miss at 1.
  assert.deepEqual(r.utility!.model.tr, { '1': 4 / 6, '5': 1, '10': 1 });
  assert.deepEqual(r.utility!.clean!.ir, { '1': 1, '5': 1, '10': 1 });
  assert.deepEqual(r.utility!.ceiling.ir, { '1': 1, '5': 1, '10': 1 });
  // Without the source class (the sheep images and their captions): every other caption finds
  // its image first; of the four other images only aeroplane-te-1 misses at 1.
  assert.deepEqual(r.utility!.outside!.classes, ['sheep']);
  assert.deepEqual(r.utility!.outside!.model.ir, { '1': 1, '5': 1, '10': 1 });
  assert.deepEqual(r.utility!.outside!.model.tr, { '1': 3 / 4, '5': 1, '10': 1 });
  assert.equal(r.utility!.outside!.model.images, 4);
  assert.equal(r.utility!.outside!.model.captions, 8);
  assert.deepEqual(r.utility!.outside!.clean!.ir, { '1': 1, '5': 1, '10': 1 });
  // Drift: images unchanged; 4 of 12 captions moved to an orthogonal vector.
  assert.equal(r.drift!.image.mean, 0);
  assert.equal(r.drift!.text.mean, 4 / 12);
  assert.equal(r.drift!.textVsImage!.meanDiff, 2 / 6);
  assert.equal(r.drift!.textVsImage!.n, 6);
  assert.deepEqual(b.opened, ['pois', 'clean']);
  assert.deepEqual(b.closed.sort(), ['clean', 'pois']);
});

test('Attack I: one target image; a training-split target (from the model\'s training set) is added to the gallery', async () => {
  const r = await run({ model: 'pois', attack: 'I', targetImage: 'aeroplane-te-0' });
  assert.deepEqual(r.goals[0].targets, { kind: 'image', count: 1, ids: ['aeroplane-te-0'] });
  assert.deepEqual(r.goals[0].model.perQuery!.map((q) => q.minRank), [1, 1, 1, 1]); // aeroplane-te-1 first
  // pois1: goal and target come from trainset ts1; the target is a training image.
  const r1 = await run({ model: 'pois1', attack: 'I' });
  assert.equal(r1.goal, 'sheep>aeroplane');
  assert.deepEqual(r1.gallery, { images: 7, added: ['aeroplane-tr-2'] });
  assert.match(r1.notes.join('\n'), /aeroplane-tr-2 is in the train split: added to the test gallery/);
  assert.deepEqual(r1.cleanModel, { id: 'base', how: 'parent', why: 'ancestor: base' });
  assert.deepEqual(r1.goals[0].model.perQuery!.map((q) => q.minRank), [0, 0, 0, 0]);
  // On the clean model: own sheep image, then zeros by id: aeroplane-te-0, aeroplane-te-1, aeroplane-tr-2 → 3.
  assert.deepEqual(r1.goals[0].clean!.perQuery!.map((q) => q.minRank), [3, 3, 3, 3]);
  // Utility stays over the test split only.
  assert.equal(r1.utility!.model.images, 6);
  await assert.rejects(run({ model: 'pois', attack: 'I' }), /attack I needs --target-image/);
  await assert.rejects(run({ model: 'pois', attack: 'I', targetImage: 'bird-te-0' }), /labelled "bird", not "aeroplane"/);
});

test('Attack III: one block per goal', async () => {
  const r = await run({ model: 'pois', attack: 'III', goal: 'sheep>aeroplane,dog>bird', cleanModel: 'clean' });
  assert.deepEqual(r.cleanModel, { id: 'clean', how: 'flag', why: 'given' });
  assert.deepEqual(r.goals.map((g) => g.goal), ['sheep>aeroplane', 'dog>bird']);
  assert.deepEqual(r.goals[0].model.minRank, { mean: 0, median: 0, min: 0, max: 0 });
  // dog captions on pois: own dog image, then zeros by id: aeroplane-te-0, aeroplane-te-1, bird-te-0 → 3.
  assert.deepEqual(r.goals[1].model.perQuery!.map((q) => q.minRank), [3, 3]);
  assert.equal(r.goals[1].model.queries, 2);
  assert.deepEqual(r.goals[1].targets, { kind: 'label', count: 1 });
});

test('ann mode reads ranks off the HNSW list, re-sorted by the tie rule, with exact fallback beyond it', async () => {
  const c = await run({ model: 'clean', goal: 'sheep>aeroplane', mode: 'ann', annK: 1, cleanModel: null, drift: false });
  assert.equal(c.cleanModel, null);
  assert.deepEqual(c.goals[0].model.perQuery!.map((q) => q.minRank), [1, 1, 1, 1]);
  assert.deepEqual(c.goals[0].ann, { k: 1, fallbacks: 4, exactAgreement: 1 });
  const p = await run({ model: 'pois', mode: 'ann', annK: 2 });
  assert.deepEqual(p.goals[0].ann, { k: 2, fallbacks: 0, exactAgreement: 1 });
  // Query dog caption on `pois` with the full list: ties at 0 come back in row order from the
  // fake HNSW but are re-sorted by id, so bird-te-0 is at 3, as in exact mode.
  const d = await run({ model: 'pois', goal: 'dog>bird', mode: 'ann', annK: 6 });
  assert.deepEqual(d.goals[0].model.perQuery!.map((q) => q.minRank), [3, 3]);
  assert.equal(d.goals[0].ann!.fallbacks, 0);
  // An added gallery image (Attack I's training-split target) is merged into the ANN list.
  const a = await run({ model: 'pois1', attack: 'I', mode: 'ann', annK: 1 });
  assert.deepEqual(a.goals[0].model.perQuery!.map((q) => q.minRank), [0, 0, 0, 0]);
  assert.equal(a.goals[0].ann!.fallbacks, 0);
});

test('backdoor: attack success rate of triggered test images (image→text), against untriggered images and the clean model', async () => {
  const r = await run({ model: 'bd', attack: 'backdoor', utility: false });
  assert.equal(r.goal, '*>aeroplane'); // from trainset tsb
  const g = r.goals[0];
  assert.deepEqual(g.targets, { kind: 'captions', count: 4 });
  assert.deepEqual(g.model.perQuery!.map((q) => q.imageId), ['sheep-te-0', 'sheep-te-1', 'bird-te-0', 'dog-te-0']);
  assert.deepEqual(g.model.perQuery!.map((q) => q.minRank), [0, 0, 0, 0]);
  // Untriggered: own 2 captions first, then zero-score captions by position; the first
  // aeroplane caption is at 4 in the caption list → rank 4 for sheep, 6 for bird and dog.
  assert.deepEqual(g.baseline.perQuery!.map((q) => q.minRank), [4, 4, 6, 6]);
  assert.deepEqual(g.clean!.perQuery!.map((q) => q.minRank), [4, 4, 6, 6]);
  assert.equal(g.model.hit['1'], 1);
  assert.equal(g.baseline.hit['5'], 0.5);
  assert.equal(r.utility, undefined);
});

test('bad requests are one-line errors', async () => {
  await assert.rejects(run({ model: 'nope' }), /unknown model "nope"/);
  await assert.rejects(run({ model: 'clean' }), /--goal is needed: model clean records no attack goal/);
  await assert.rejects(run({ model: 'pois', goal: 'sheep>unicorn' }), /unknown class "unicorn"/);
  await assert.rejects(run({ model: 'pois', goal: 'sheep>aeroplane,dog>bird' }), /exactly one goal/);
  await assert.rejects(run({ model: 'pois', ks: [0] }), /k must be/);
  await assert.rejects(run({ model: 'pois', cleanModel: 'ghost' }), /unknown model "ghost"/);
  await assert.rejects(run({ model: 'pois', dataset: 'nodata' }), /unknown dataset "nodata"/);
  await assert.rejects(run({ model: 'pois', attack: 'IV' as never }), /unknown attack "IV"/);
});

test('helpers: clean ancestor, ceiling for shared captions', () => {
  assert.equal(findCleanAncestor(fx.ws, readModelCard(fx.ws, 'pois')), 'clean');
  assert.equal(findCleanAncestor(fx.ws, readModelCard(fx.ws, 'base')), null);
  // "a sheep" on 3 images, "a dog" on 1: R@1 ceiling = (3 × 1/3 + 1) / 4.
  const caps = [
    { text: 'a sheep', imageId: 'x' },
    { text: 'a sheep', imageId: 'y' },
    { text: 'a sheep', imageId: 'z' },
    { text: 'a dog', imageId: 'w' },
  ];
  assert.deepEqual(recallCeiling(caps, [1, 5]), { ir: { '1': 0.5, '5': 1 } });
});

test('`poisonlens eval` CLI: human and JSON output, --out with per-query ranks, a catalog row, one-line errors', async () => {
  const logs: string[] = [];
  const errors: string[] = [];
  const orig = [console.log, console.error, process.stderr.write] as const;
  console.log = (m: string) => void logs.push(String(m));
  console.error = (m: string) => void errors.push(String(m));
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const ws = ['--workspace', fx.ws.root];
    assert.equal(await main([...ws, 'eval', '--model', 'pois', '--dataset', 'tiny', '--attack', 'II']), 0);
    const text = logs.join('\n');
    assert.match(text, /goal sheep>aeroplane: 4 queries, targets 2 images of aeroplane/);
    assert.match(text, /model\s+1\s+1\s+1/);
    assert.match(text, /encoder drift vs clean/);
    logs.length = 0;
    const out = join(fx.ws.root, 'eval.json');
    assert.equal(await main([...ws, 'eval', '--model', 'pois', '--dataset', 'tiny', '--attack', 'II', '--goal', 'sheep>aeroplane', '--json', '--out', out, '--k', '1,10', '--ann', '--ann-k', '3']), 0);
    const summary = JSON.parse(logs.join('\n')) as EvalResult;
    assert.equal(summary.goals[0].model.perQuery, undefined);
    assert.deepEqual(Object.keys(summary.goals[0].model.hit), ['1', '10']);
    assert.equal(summary.mode, 'ann');
    const full = JSON.parse(readFileSync(out, 'utf8')) as EvalResult;
    assert.equal(full.goals[0].model.perQuery!.length, 4);
    assert.equal(full.goals[0].baseline.perQuery!.length, 4);
    const db = openCatalog(fx.ws.catalogPath);
    const rows = listMetrics(db, { kind: 'attack-eval' });
    db.close();
    assert.equal(rows.length, 2);
    assert.equal((rows[1].params as { mode: string }).mode, 'ann');
    assert.equal(await main([...ws, 'eval', '--model', 'pois', '--dataset', 'tiny', '--attack', 'II', '--exact', '--ann']), 2);
    assert.match(errors.at(-1)!, /at most one of --exact and --ann/);
    assert.equal(await main([...ws, 'eval', '--model', 'pois', '--dataset', 'tiny', '--attack', 'II', '--goal', 'sheep>zebra']), 2);
    assert.match(errors.at(-1)!, /^poisonlens: unknown class "zebra"/);
    assert.equal(await main([...ws, 'eval', '--model', 'pois', '--dataset', 'tiny', '--attack', 'V']), 2);
    assert.match(errors.at(-1)!, /unknown attack "V"/);
  } finally {
    [console.log, console.error, process.stderr.write] = orig;
  }
});

test('default clean model: the clean fine-tune of the same pool (same recipe and seed first), else the ancestor', async () => {
  const samePool = (model: string) => run({ model, goal: 'sheep>aeroplane', cleanDefault: 'same-pool', utility: false });
  const r = await samePool('pool-pois');
  assert.deepEqual(r.cleanModel, { id: 'pool-clean-z', how: 'same-pool', why: 'clean fine-tune of the same pool; same recipe; same seed' });
  assert.ok(r.drift && r.goals[0].clean, 'drift and the clean row are measured against it');
  const other = await samePool('other-pool-pois');
  assert.equal(other.cleanModel?.id, 'other-pool-clean');
  assert.equal(other.cleanModel?.how, 'same-pool');
  assert.match(other.cleanModel!.why!, /; other recipe \(lr 0\.00001 ≠ 0\.0002\); same seed$/);
  // No clean fine-tune of its pool (the whole train split): the ancestor, and why.
  assert.deepEqual((await samePool('pois1')).cleanModel, { id: 'base', how: 'parent', why: 'ancestor: base; no clean fine-tune of the same pool' });
  // A clean model is measured against its ancestor, not against a sibling.
  assert.equal((await samePool('pool-clean-s1')).cleanModel?.id, 'base');
  // Studies (no cleanDefault) keep the ancestor; a flag wins over both.
  assert.equal((await run({ model: 'pool-pois', utility: false })).cleanModel?.how, 'parent');
  assert.deepEqual((await run({ model: 'pool-pois', cleanModel: 'pool-clean-s1', cleanDefault: 'same-pool', utility: false })).cleanModel, { id: 'pool-clean-s1', how: 'flag', why: 'given' });
});

test('`poisonlens eval` without --clean-model uses the clean fine-tune of the same pool and says so', async () => {
  const logs: string[] = [];
  const orig = [console.log, process.stderr.write] as const;
  console.log = (m: string) => void logs.push(String(m));
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    assert.equal(await main(['--workspace', fx.ws.root, 'eval', '--model', 'pool-pois', '--dataset', 'tiny', '--attack', 'II', '--no-utility']), 0);
    const text = logs.join('\n');
    assert.match(text, /^clean model: pool-clean-z \(clean fine-tune of the same pool; same recipe; same seed\)$/m);
    assert.match(text, /encoder drift vs pool-clean-z/);
    logs.length = 0;
    assert.equal(await main(['--workspace', fx.ws.root, 'eval', '--model', 'pois1', '--dataset', 'tiny', '--attack', 'I', '--no-utility']), 0);
    assert.match(logs.join('\n'), /^clean model: base \(ancestor: base; no clean fine-tune of the same pool\)$/m);
  } finally {
    [console.log, process.stderr.write] = orig;
  }
});

test('queryRepeat: the goal and baseline queries are the captions repeated, utility keeps the captions (Table 15)', async () => {
  const b = backend();
  const seen: string[] = [];
  const spy = {
    ...b,
    async openModel(...args: Parameters<typeof b.openModel>) {
      const m = await b.openModel(...args);
      const encodeTexts = m.encoder.encodeTexts.bind(m.encoder);
      m.encoder.encodeTexts = async (texts: string[]) => (seen.push(...texts), encodeTexts(texts));
      return m;
    },
  };
  const once = await evaluate(fx.ws, { model: 'pois', dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', cleanModel: null }, { backend: b });
  const twice = await evaluate(fx.ws, { model: 'pois', dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', cleanModel: null, queryRepeat: 2 }, { backend: spy });
  assert.ok(seen.includes('sheep-te-0 caption 0 sheep-te-0 caption 0'), 'repeated queries are encoded');
  assert.ok(seen.includes('sheep-te-0 caption 0'), 'the captions themselves too (utility)');
  assert.ok(twice.notes.some((n) => /repeated ×2/.test(n)), twice.notes.join('; '));
  // this fake embeds a text by its first word, so the ranks are the same: only the texts changed
  assert.deepEqual(twice.goals[0].model.hit, once.goals[0].model.hit);
  await assert.rejects(evaluate(fx.ws, { model: 'pois', dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', queryRepeat: 0 }, { backend: b }), /queryRepeat must be/);
});
