/** Planning without building: what the planner asks for (steps and their inputs) for the features studies use. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace } from '../../core/workspace.js';
import type { Dataset, ManifestEntry } from '../../data/dataset.js';
import { parseStudy, expandVariants } from '../../trainer/experiment/spec.js';
import { planStudy } from '../../trainer/experiment/plan.js';
import '../../trainer/defend/defence-variants.js';

const ws = resolveWorkspace(mkdtempSync(join(tmpdir(), 'pl-plan-')));
process.on('exit', () => rmSync(ws.root, { recursive: true, force: true }));
const CLASSES = ['sheep', 'aeroplane', 'dog'];

function dataset(name: string, baseImages: number | null): Dataset {
  const entries: ManifestEntry[] = [];
  for (let i = 0; i < 60; i++) {
    const c = CLASSES[i % 3];
    entries.push({ id: `${name}-${i}`, file: `images/${i}.png`, split: i < 6 ? 'test' : 'train', label: c, labels: [c], captions: [`a ${c} ${i}`, `the ${c} ${i}`], meta: {} });
  }
  const params = baseImages === null ? {} : { baseImages };
  return { name, dir: '/nowhere', entries, card: { name, source: 'test', classes: CLASSES, counts: { train: 54, val: 0, test: 6 }, params, seed: 0, licence: '', attribution: [], manifestSha256: `sha-${name}`, createdAt: '' } };
}

function plan(study: Record<string, unknown>) {
  const s = parseStudy({ id: 't', datasets: { worldA: {}, worldB: {} }, seeds: 1, finetune: { epochs: 1, images: 20 }, ...study });
  const datasets = new Map([['worldA', dataset('worldA', 20)], ['worldB', dataset('worldB', null)]]);
  return planStudy(ws, s, expandVariants(s, { classes: CLASSES }), datasets);
}

const attack = { name: 'attack-II', kind: 'attack', attack: 'II', goal: 'sheep>aeroplane', poisonImages: 3 };

test('base.dataset: the base pre-trains on another dataset’s base part, fine-tunes use the study’s dataset', () => {
  const p = plan({ dataset: 'worldB', base: { recipe: 'scenes-base', dataset: 'worldA' }, variants: [{ name: 'clean', kind: 'clean' }] });
  const baseTs = p.steps.find((s) => s.kind === 'trainset' && s.variants.has('base'))!;
  assert.deepEqual(baseTs.inputs, { v: 1, builder: 'clean', dataset: 'sha-worldA', split: 'train', images: null, part: 'base' });
  const ft = p.steps.find((s) => s.kind === 'trainset' && s.variants.has('clean'))!;
  assert.equal((ft.inputs as { dataset: string }).dataset, 'sha-worldB');
  assert.throws(() => plan({ base: { dataset: 'nope' }, variants: [{ name: 'clean', kind: 'clean' }] }), /base\.dataset/);
});

test('a filter with an independent reference pre-trains it (another arch and seed) and reads it', () => {
  const p = plan({ variants: [attack, { name: 'f', kind: 'filter', of: 'attack-II', gamma: 'auto', reference: { arch: 'pl-vit16-s64', seed: 1 } }] });
  const bases = p.steps.filter((s) => s.kind === 'model' && s.label.startsWith('train the base model'));
  assert.equal(bases.length, 2, 'the study base and the reference');
  const ref = bases.find((s) => (s.inputs as { arch: { arch: string } | null }).arch?.arch === 'pl-vit16-s64')!;
  assert.equal((ref.inputs as { seed: number }).seed, 1);
  const filtered = p.steps.find((s) => s.kind === 'trainset' && s.label.startsWith('filter'))!;
  assert.ok(filtered.deps.includes(ref.id), 'the filter step depends on the reference model');
  assert.throws(() => plan({ variants: [attack, { name: 'f', kind: 'filter', of: 'attack-II', gamma: 'auto', reference: {} }] }), /another arch or seed/);
});

test('sterilisation on another dataset uses that dataset’s clean pool', () => {
  const p = plan({ dataset: 'worldA', variants: [attack, { name: 's', kind: 'sterilize', of: 'attack-II', dataset: 'worldB', finetune: { steps: 5 } }] });
  const clean = p.steps.find((s) => s.kind === 'trainset' && s.variants.has('s') && (s.inputs as { builder: string }).builder === 'clean')!;
  assert.equal((clean.inputs as { dataset: string }).dataset, 'sha-worldB');
  assert.match(clean.label, /of worldB/);
});

test('pool class settings name the pool; a plain pool keeps the inputs it always had', () => {
  const plain = plan({ variants: [{ name: 'clean', kind: 'clean' }] }).steps.find((s) => s.variants.has('clean') && s.kind === 'trainset')!;
  assert.deepEqual(plain.inputs, { v: 1, builder: 'clean', dataset: 'sha-worldA', split: 'train', images: 20, subsetSeed: 0 });
  const shaped = plan({ finetune: { epochs: 1, images: 20, profile: 'flickr30k', classImages: { sheep: 2 }, captionsPerImage: 1 }, variants: [{ name: 'clean', kind: 'clean' }] });
  const ts = shaped.steps.find((s) => s.variants.has('clean') && s.kind === 'trainset')!;
  assert.deepEqual(ts.inputs, { v: 1, builder: 'clean', dataset: 'sha-worldA', split: 'train', images: 20, subsetSeed: 0, profile: 'flickr30k', classImages: { sheep: 2 }, captionsPerImage: 1 });
});

test('an epoch curve is one training with a package per epoch, every epoch evaluated (0: the base)', () => {
  const p = plan({ variants: [{ ...attack, name: 'curve', epochCurve: true, finetune: { epochs: 3, images: 20 } }] });
  const trainings = p.steps.filter((s) => s.kind === 'model' && s.label.startsWith('fine-tune'));
  assert.equal(trainings.length, 1, 'one training');
  assert.equal((trainings[0].inputs as { saveEpochs?: boolean }).saveEpochs, true);
  const final = trainings[0].id;
  assert.deepEqual(p.runs.map((r) => [r.variant.name, r.outcome.model]), [
    ['curve@epoch=0', p.base.model],
    ['curve@epoch=1', `${final}-e01`],
    ['curve@epoch=2', `${final}-e02`],
    ['curve@epoch=3', final],
  ]);
  for (const r of p.runs.slice(1)) {
    const ev = p.steps.find((s) => s.id === r.evals[0].id)!;
    assert.ok(ev.deps.includes(final), `${r.variant.name}: evaluated after the training that writes it`);
  }
  assert.throws(() => plan({ variants: [{ ...attack, name: 'curve', epochCurve: true, finetune: { steps: 5 } }] }), /whole number of epochs/);
});

test('a detect variant plans a local-density training set beside the filter, whose inputs stay as they were', () => {
  const p = plan({
    variants: [
      attack,
      { name: 'f', kind: 'filter', of: 'attack-II', gamma: 'auto' },
      { name: 'd', kind: 'detect', of: 'attack-II', k: 7 },
    ],
  });
  type Custom = { builder: string; kind: string; inputs: Record<string, unknown> };
  const step = (v: string) => p.steps.find((s) => s.kind === 'trainset' && s.variants.has(v) && (s.inputs as Custom).builder === 'custom')!;
  const { of, reference } = (step('f').inputs as Custom).inputs;
  // The filter's inputs are hashed into its artefacts' ids: a change here would rebuild every study's filter.
  assert.deepEqual((step('f').inputs as Custom).inputs, { builder: 'filter', of, reference, gamma: 'auto', calibrationSample: 200, quantile: 0.99, seed: 0 });
  assert.deepEqual((step('d').inputs as Custom).inputs, { builder: 'detect', of, reference, score: 'slof', k: 7, gamma: 'auto', calibrationSample: 200, quantile: 0.99, seed: 0 });
  assert.equal((step('d').inputs as Custom).kind, 'detect');
  assert.match(step('d').label, /local-density detector \(slof, k 7, γ auto\)/);
  assert.throws(() => plan({ variants: [attack, { name: 'd', kind: 'detect', of: 'attack-II', score: 'lof' }] }), /score/);
});

test('models are named by the kind the engine would derive (its settings table), under the ids they always had', () => {
  const p = plan({ variants: [{ name: 'clean', kind: 'clean' }, attack, { name: 'f', kind: 'filter', of: 'attack-II', gamma: 'auto' }] });
  const models = p.steps.filter((s) => s.kind === 'model');
  // Content-addressed: an id changes only when what makes the model does.
  assert.deepEqual(models.map((s) => s.id), ['base-5aff2f54d797', 'clean-fcc5006fac17', 'poisoned-608e24321682', 'defended-408f4bf052bf']);
  assert.deepEqual(models.map((s) => (s.inputs as { kind: string }).kind), ['base', 'clean', 'poisoned', 'defended']);
});
