/**
 * Defences (issue 6): the filter's decisions and precision/recall arithmetic, the ROC, γ
 * calibration and the SafeCLIP-style mixture split as units; then end to end on the shared
 * server test world (a tiny base, clean and Attack II-poisoned model trained by the real engine):
 * `defend filter` / `defend safeclip` on the poisoned training set and `defend sterilize` of the
 * poisoned model, which must write a `defended` package with full provenance that `models` and the
 * server's GET /api/models list. Bad flags fail with one line and leave nothing behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { main } from '../../cli/main.js';
import type { Workspace } from '../../core/workspace.js';
import { loadTrainset } from '../../data/trainset.js';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { loadModelPackage } from '../../indexer/package.js';
import { calibrateGamma, filterDecisions, filterMetrics, rocCurve, distanceDensities, type FilterReport } from '../../trainer/defend/filter.js';
import { pairImagePath, quantile } from '../../trainer/defend/pairs.js';
import { fitGmm2, gmmSplit, safePosterior } from '../../trainer/defend/safeclip.js';
import { parseStudy } from '../../trainer/experiment/spec.js';
import '../../trainer/defend/defence-variants.js';
import { serverWorld, serverWorldMissing, serverWorkspace, type ServerWorld } from '../helpers/server-world.js';

const skip = serverWorldMissing() ?? false;

// ------------------------------------------------------------------------------------ units

test('filter: drops exactly the pairs above γ; precision, recall and clean loss by hand', () => {
  const d = [0.1, 0.95, 0.5, 0.8, 0.81, 0.2, 0.9, 0.8];
  const poisoned = new Set([1, 4, 6]);
  const dropped = filterDecisions(d, 0.8); // strictly above: 0.8 itself stays
  assert.deepEqual(dropped, [1, 4, 6]);
  assert.deepEqual(filterMetrics(d.length, dropped, poisoned), {
    pairs: 8, kept: 5, dropped: 3, poisoned: 3, poisonedDropped: 3, cleanDropped: 0, precision: 1, recall: 1, cleanLost: 0,
  });
  const m = filterMetrics(d.length, filterDecisions(d, 0.45), poisoned); // drops 1,2,3,4,6,7
  assert.equal(m.dropped, 6);
  assert.equal(m.poisonedDropped, 3);
  assert.equal(m.cleanDropped, 3);
  assert.equal(m.precision, 0.5);
  assert.equal(m.recall, 1);
  assert.equal(m.cleanLost, 3 / 5);
  const strict = filterMetrics(d.length, filterDecisions(d, 0.85), poisoned); // drops 1,6
  assert.equal(strict.recall, 2 / 3);
  assert.equal(strict.precision, 1);
  // Nothing dropped: precision undefined; no poison records: no metrics.
  assert.equal(filterMetrics(d.length, filterDecisions(d, 1), poisoned).precision, null);
  assert.equal(filterMetrics(d.length, dropped, null).recall, null);
});

test('ROC: perfect separation has AUC 1, reversed 0, ties flag together; densities integrate to 1', () => {
  const poisoned = new Set([0, 1]);
  const good = rocCurve([0.9, 0.8, 0.1, 0.2, 0.3], poisoned);
  assert.equal(good.auc, 1);
  assert.deepEqual(good.points[0], { gamma: 0.9, tpr: 0, fpr: 0 });
  assert.equal(good.points.at(-1)!.tpr, 1);
  assert.equal(good.points.at(-1)!.fpr, 1);
  assert.equal(rocCurve([0.1, 0.2, 0.8, 0.9, 0.7], poisoned).auc, 0);
  const tied = rocCurve([0.5, 0.5, 0.5, 0.5], new Set([0, 1]));
  assert.equal(tied.points.length, 2); // one threshold: all or nothing
  assert.equal(tied.auc, 0.5);
  // Each point: flagging pairs with distance > gamma gives exactly (tpr, fpr).
  const d = [0.9, 0.6, 0.6, 0.3, 0.7, 0.2];
  const p = new Set([0, 2, 4]);
  for (const pt of rocCurve(d, p).points) {
    const m = filterMetrics(d.length, filterDecisions(d, pt.gamma), p);
    assert.equal(m.recall, pt.tpr);
    assert.equal(m.cleanLost, pt.fpr);
  }
  const dens = distanceDensities(d, p, 4);
  const w = dens.edges[1] - dens.edges[0];
  assert.ok(Math.abs(dens.clean.reduce((a, b) => a + b, 0) * w - 1) < 1e-4);
  assert.ok(Math.abs(dens.poisoned.reduce((a, b) => a + b, 0) * w - 1) < 1e-4);
});

test('γ calibration: a seeded sample of recorded-clean pairs, γ its quantile', () => {
  const d = Array.from({ length: 1000 }, (_, i) => (i % 100) / 100);
  const poisoned = new Set([5, 50, 500]);
  const a = calibrateGamma(d, poisoned, { sample: 200, quantile: 0.95, seed: 7 });
  const b = calibrateGamma(d, poisoned, { sample: 200, quantile: 0.95, seed: 7 });
  assert.deepEqual(a, b);
  assert.equal(a.sampleSize, 200);
  assert.equal(a.population, 'recorded-clean');
  assert.equal(a.populationSize, 997);
  assert.ok(a.sample.every((i) => !poisoned.has(i)));
  assert.equal(new Set(a.sample).size, 200);
  assert.equal(a.gamma, quantile(a.sample.map((i) => d[i]), 0.95));
  assert.notDeepEqual(calibrateGamma(d, poisoned, { sample: 200, quantile: 0.95, seed: 8 }).sample, a.sample);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4], 1), 4);
  // Larger than the population: the whole population.
  assert.equal(calibrateGamma([0.1, 0.2, 0.9], new Set([2]), { sample: 50, quantile: 1, seed: 0 }).gamma, 0.2);
  assert.equal(calibrateGamma([0.1, 0.2, 0.9], null, { sample: 50, quantile: 1, seed: 0 }).population, 'all-pairs');
  assert.throws(() => calibrateGamma([0.1], null, { sample: 5, quantile: 1.5, seed: 0 }), /--quantile/);
});

test('SafeCLIP-style split: EM finds the two modes and the cut between them', () => {
  // Deterministic bimodal sample: 900 clean similarities near 0.6, 100 poisoned near 0.1.
  const s: number[] = [];
  for (let i = 0; i < 900; i++) s.push(0.6 + 0.05 * Math.sin(i * 12.9898));
  for (let i = 0; i < 100; i++) s.push(0.1 + 0.05 * Math.cos(i * 78.233));
  const fit = fitGmm2(s);
  assert.ok(Math.abs(fit.components[0].mean - 0.1) < 0.02, JSON.stringify(fit));
  assert.ok(Math.abs(fit.components[1].mean - 0.6) < 0.02, JSON.stringify(fit));
  assert.ok(Math.abs(fit.components[1].weight - 0.9) < 0.02);
  const split = gmmSplit(s);
  assert.ok(split.similarityCut > 0.15 && split.similarityCut < 0.55, String(split.similarityCut));
  assert.ok(Math.abs(safePosterior(split.similarityCut, split.components) - 0.5) < 1e-6);
  assert.equal(split.gamma, 1 - split.similarityCut);
  const dropped = filterDecisions(s.map((x) => 1 - x), split.gamma);
  const m = filterMetrics(s.length, dropped, new Set(Array.from({ length: 100 }, (_, i) => 900 + i)));
  assert.equal(m.recall, 1);
  assert.equal(m.cleanLost, 0);
});

test('study files: defence variants parse (filter, safeclip, sterilize with a steps sweep)', () => {
  const study = parseStudy({
    id: 'defend-unit',
    datasets: { tiny: {} },
    base: { model: 'tiny-model' },
    seeds: 1,
    variants: [
      { name: 'clean', kind: 'clean' },
      { name: 'attack-II', kind: 'attack', attack: 'II', goal: 'sheep>aeroplane', poisonImages: 2 },
      { name: 'filter', kind: 'filter', of: 'attack-II', gamma: 'auto' },
      { name: 'filter-g', kind: 'filter', of: 'attack-II', gamma: 0.7, reference: 'clean' },
      { name: 'safe', kind: 'safeclip', of: 'attack-II' },
      { name: 'ster', kind: 'sterilize', of: 'attack-II', finetune: { steps: 2 }, sweep: { 'finetune.steps': [1, 2] } },
    ],
  });
  assert.deepEqual(study.variants.map((v) => v.name), ['clean', 'attack-II', 'filter', 'filter-g', 'safe', 'ster@finetune.steps=1', 'ster@finetune.steps=2']);
  assert.equal(study.variants[2].fields.gamma, 'auto');
  assert.equal(study.variants[6].finetune.steps, 2);
  assert.throws(() => parseStudy({ id: 'x', datasets: { tiny: {} }, seeds: 1, variants: [{ name: 'f', kind: 'filter', of: 'a', gamma: 'high' }] }), /gamma/);
});

// ------------------------------------------------------------------------ end to end (tiny world)

let world: ServerWorld;
let ws: Workspace;
let dispose: (() => void) | undefined;

before(async () => {
  if (skip) return;
  world = await serverWorld();
  ({ ws, dispose } = serverWorkspace(world));
});
after(() => dispose?.());

async function cli(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['--workspace', ws.root, ...args]);
    return { code, stderr: err.join('\n'), stdout: out.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    process.stderr.write = write;
  }
}

test('defend filter: distances from the reference model, decisions and metrics match the report', { skip }, async () => {
  const parent = loadTrainset(ws, 'tiny-poison');
  assert.ok(parent.card.counts.poisonedPairs > 0);
  // Pick γ between distances so that some pairs go and some stay: first everything kept.
  const all = await cli('defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', '2', '--name', 'f-all', '--json');
  assert.equal(all.code, 0, all.stderr);
  const r0 = JSON.parse(readFileSync(join(ws.trainsets, 'f-all', 'filter-report.json'), 'utf8')) as FilterReport;
  assert.equal(r0.distances.length, parent.pairs.length);
  assert.equal(r0.metrics.dropped, 0);
  assert.equal(r0.gammaSource.method, 'flag');
  // One pair's distance recomputed straight through the encoder.
  const enc = await OnnxClipEncoder.load(loadModelPackage(ws, world.base), { intraOpNumThreads: 1 });
  try {
    const i = parent.card.poisonedPairIds[0];
    const [img] = await enc.encodeImages([pairImagePath(parent, parent.pairs[i].image)]);
    const [txt] = await enc.encodeTexts([parent.pairs[i].caption]);
    const dot = img.reduce((s, v, j) => s + v * txt[j], 0);
    assert.ok(Math.abs(1 - dot - r0.distances[i]) < 1e-4, `${1 - dot} vs ${r0.distances[i]}`);
  } finally {
    await enc.close();
  }
  const sorted = [...r0.distances].sort((a, b) => a - b);
  const gamma = (sorted[Math.floor(sorted.length / 2)] + sorted[Math.floor(sorted.length / 2) + 1]) / 2;
  const res = await cli('defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', String(gamma), '--name', 'f-mid');
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /poisoned pairs dropped \d+\/\d+ \(recall/);
  const t = loadTrainset(ws, 'f-mid');
  const rep = JSON.parse(readFileSync(join(t.dir, 'filter-report.json'), 'utf8')) as FilterReport;
  const expectDropped = r0.distances.flatMap((d, i) => (d > gamma ? [i] : []));
  assert.deepEqual(rep.dropped, expectDropped);
  assert.ok(expectDropped.length > 0 && expectDropped.length < parent.pairs.length);
  const pois = new Set(parent.card.poisonedPairIds);
  const tp = expectDropped.filter((i) => pois.has(i)).length;
  assert.equal(rep.metrics.poisonedDropped, tp);
  assert.equal(rep.metrics.recall, tp / pois.size);
  assert.equal(rep.metrics.precision, tp / expectDropped.length);
  assert.equal(rep.metrics.cleanLost, (expectDropped.length - tp) / (parent.pairs.length - pois.size));
  // The filtered training set: the kept pairs in order, its poisons renumbered, provenance.
  const kept = parent.pairs.filter((_, i) => !expectDropped.includes(i));
  assert.deepEqual(t.pairs, kept);
  assert.equal(t.card.counts.poisonedPairs, pois.size - tp);
  assert.equal(t.card.builder.name, 'filter');
  assert.equal(t.card.builder.params.gamma, gamma);
  assert.equal(t.card.builder.params.reference, world.base);
  assert.deepEqual((t.card.parent as { name: string }).name, 'tiny-poison');
  assert.deepEqual(t.card.attack, parent.card.attack);
  assert.ok(rep.roc && rep.roc.points.length >= 2 && rep.roc.auc !== null);
  assert.ok(rep.densities && rep.densities.clean.length === rep.densities.poisoned.length);
  for (const f of ['roc.svg', 'densities.svg']) assert.match(readFileSync(join(t.dir, f), 'utf8'), /^<svg /);
});

test('defend filter --gamma auto: γ is the recorded quantile of the recorded sample', { skip }, async () => {
  const res = await cli('defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', 'auto', '--calibration-sample', '6', '--quantile', '0.9', '--seed', '3', '--name', 'f-auto');
  assert.equal(res.code, 0, res.stderr);
  const t = loadTrainset(ws, 'f-auto');
  const rep = JSON.parse(readFileSync(join(t.dir, 'filter-report.json'), 'utf8')) as FilterReport;
  const src = rep.gammaSource as { method: string; quantile: number; sampleSize: number; seed: number; sample: number[]; population: string };
  assert.equal(src.method, 'quantile');
  assert.equal(src.quantile, 0.9);
  assert.equal(src.sampleSize, 6);
  assert.equal(src.seed, 3);
  assert.equal(src.population, 'recorded-clean');
  const pois = new Set(loadTrainset(ws, 'tiny-poison').card.poisonedPairIds);
  assert.ok(src.sample.every((i) => !pois.has(i)));
  assert.ok(Math.abs(rep.gamma - quantile(src.sample.map((i) => rep.distances[i]), 0.9)) < 1e-5);
  assert.deepEqual(t.card.builder.params, { reference: world.base, gamma: rep.gamma, gammaMode: 'auto', calibrationSample: 6, quantile: 0.9, seed: 3 });
});

test('defend safeclip: a mixture split written as a training set', { skip }, async () => {
  const res = await cli('defend', 'safeclip', '--trainset', 'tiny-poison', '--reference', world.base, '--name', 'f-safe', '--json');
  assert.equal(res.code, 0, res.stderr);
  const t = loadTrainset(ws, 'f-safe');
  assert.equal(t.card.builder.name, 'safeclip-split');
  const rep = JSON.parse(readFileSync(join(t.dir, 'filter-report.json'), 'utf8')) as FilterReport;
  assert.equal(rep.gammaSource.method, 'gmm');
  assert.deepEqual(rep.dropped, rep.distances.flatMap((d, i) => (d > rep.gamma ? [i] : [])));
});

test('defend: bad flags fail with one line and write nothing', { skip }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['defend'], /unknown defend subcommand/],
    [['defend', 'purge'], /unknown defend subcommand "purge"/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--name', 'x1'], /missing --gamma/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', 'high', '--name', 'x1'], /--gamma must be a number/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', '0.5', '--quantile', '0.9', '--name', 'x1'], /go with --gamma auto/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', 'auto', '--quantile', '2', '--name', 'x1'], /--quantile must be ≤ 1/],
    [['defend', 'filter', '--trainset', 'nope', '--reference', world.base, '--gamma', '0.5', '--name', 'x1'], /unknown training set "nope"/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', 'nope', '--gamma', '0.5', '--name', 'x1'], /unknown model "nope"/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', '0', '--name', 'x1'], /drops every pair/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.poisoned, '--gamma', '0.5', '--name', 'x1'], /was trained on tiny-poison itself/],
    [['defend', 'filter', '--trainset', 'tiny-poison', '--reference', world.base, '--gamma', '0.5', '--name', 'tiny-poison'], /must differ/],
    [['defend', 'sterilize', '--model', world.poisoned, '--trainset', 'tiny-train', '--name', 'x2'], /missing --steps/],
    [['defend', 'sterilize', '--model', world.poisoned, '--trainset', 'tiny-train', '--steps', '0', '--name', 'x2'], /--steps must be ≥ 1/],
    [['defend', 'sterilize', '--model', world.poisoned, '--trainset', 'tiny-poison', '--steps', '1', '--name', 'x2'], /records \d+ poisoned pairs/],
    [['defend', 'sterilize', '--model', world.poisoned, '--trainset', 'tiny-train', '--steps', '1', '--attack', 'IV', '--name', 'x2'], /--attack must be one of/],
    [['defend', 'sterilize', '--model', world.clean, '--trainset', 'tiny-train', '--steps', '1', '--name', 'x2'], /records no attack/],
    [['defend', 'sterilize', '--model', world.poisoned, '--trainset', 'tiny-train', '--steps', '1', '--lr', 'fast', '--name', 'x2'], /--lr must be a number/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    // The error is one line (a usage line may follow, as for every command), after any progress output.
    const line = r.stderr.split('\n').find((l) => l.startsWith('poisonlens: '));
    assert.ok(line && re.test(line), `${args.join(' ')}: ${r.stderr}`);
  }
  assert.ok(!existsSync(join(ws.trainsets, 'x1')));
  assert.ok(!existsSync(join(ws.models, 'x2')));
});

test('defend sterilize: a defended package with its defence, parameters and a measured curve; listed by models and the API', { skip }, async () => {
  const res = await cli('defend', 'sterilize', '--model', world.poisoned, '--trainset', 'tiny-train', '--steps', '2', '--eval-every', '1',
    '--lr', '1e-4', '--batch', '8', '--threads', '1', '--no-bf16', '--name', 'tiny-sterile');
  assert.equal(res.code, 0, res.stderr);
  const pkg = loadModelPackage(ws, 'tiny-sterile');
  const c = pkg.card;
  assert.equal(c.kind, 'defended');
  assert.equal(c.parent, world.poisoned);
  assert.equal(c.trainset?.name, 'tiny-train');
  assert.equal(c.attack?.goal, world.goal);
  assert.equal(c.attack?.inheritedFrom, world.poisoned);
  const d = c.defence as Record<string, any>;
  assert.equal(d.type, 'sterilize');
  assert.equal(d.from, world.poisoned);
  assert.equal(d.trainset.name, 'tiny-train');
  assert.equal(d.trainset.sha256, loadTrainset(ws, 'tiny-train').card.pairsSha256);
  assert.equal(d.steps, 2);
  assert.equal(d.lr, 1e-4);
  assert.equal(d.batch, 8);
  assert.equal(d.recipe, 'finetune');
  assert.equal(d.segmentSteps, 1);
  assert.equal(d.segments, 2);
  assert.deepEqual(d.attack, { type: 'II', goal: world.goal });
  assert.deepEqual(d.curve.map((p: { step: number }) => p.step), [0, 1, 2]);
  const pairs = loadTrainset(ws, 'tiny-train').pairs.length;
  assert.deepEqual(d.curve.map((p: { epoch: number }) => p.epoch), [0, 8 / pairs, 16 / pairs].map((x) => Math.round(x * 1e4) / 1e4));
  for (const p of d.curve) {
    assert.ok(typeof p.hit['10'] === 'number' && p.hit['10'] >= 0 && p.hit['10'] <= 1);
    assert.ok(p.utility && typeof p.utility.ir['10'] === 'number');
  }
  assert.equal((c.trainer as { config: { lr: number } }).config.lr, 1e-4);
  // Intermediate segment packages are gone.
  assert.deepEqual(readdirSync(ws.models).filter((m) => m.startsWith('tiny-sterile.')), []);
  // `models` lists it as defended.
  const listed = await cli('models', '--json');
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as { models: Array<{ id: string; kind: string; parent: string }> } | Array<{ id: string; kind: string; parent: string }>;
  const row = (Array.isArray(rows) ? rows : rows.models).find((m) => m.id === 'tiny-sterile');
  assert.equal(row?.kind, 'defended');
  assert.equal(row?.parent, world.poisoned);
  // The server's model list.
  const { createApp } = await import('../../server/app.js');
  const { indexerRuntime } = await import('../../server/repositories/indexer-runtime-repository.js');
  const pl = createApp({ workspace: ws, runtime: indexerRuntime(ws, { threads: 1 }), config: { adminToken: 'test-admin-token-0123456789abcdef', activeModel: world.clean }, log: () => {} });
  try {
    await pl.ready();
    const body = (await request(pl.app).get('/api/models')).body as { models: Array<{ id: string; kind: string }> };
    assert.equal(body.models.find((m) => m.id === 'tiny-sterile')?.kind, 'defended');
  } finally {
    await pl.close();
  }
});

test('defend report: filter numbers, ROC/densities and the sterilisation curve of a study report', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { resolveWorkspace } = await import('../../core/workspace.js');
  const { summarizeDefences, renderDefencesHtml } = await import('../../trainer/defend/defence-report.js');
  const dir = mkdtempSync(join(tmpdir(), 'pl-defrep-'));
  try {
    const w = resolveWorkspace(dir);
    mkdirSync(join(w.trainsets, 'ts-f'), { recursive: true });
    writeFileSync(join(w.trainsets, 'ts-f', 'trainset.json'), JSON.stringify({ builder: { name: 'filter', params: {} }, filter: { method: 'filter', gamma: 0.8, recall: 0.96, precision: 0.5, cleanLost: 0.01, dropped: 250, auc: 0.99 } }));
    writeFileSync(join(w.trainsets, 'ts-f', 'roc.svg'), '<svg id="roc-marker"></svg>');
    const ev = (h: number, base: number, ir: number) => ({ reference: false, result: { goals: [{ model: { hit: { '10': h } }, baseline: { hit: { '10': base } } }], utility: { model: { ir: { '10': ir } } } } });
    const report = {
      id: 'st', title: 'T',
      variants: [
        { name: 'filter-II', kind: 'filter', setting: null },
        { name: 'ster@finetune.steps=10', kind: 'sterilize', setting: { field: 'finetune.steps', value: 10 } },
        { name: 'ster@finetune.steps=50', kind: 'sterilize', setting: { field: 'finetune.steps', value: 50 } },
      ],
      runs: [
        { variant: 'filter-II', group: 'filter-II', seed: 0, model: 'm1', trainset: 'ts-f', evals: [ev(0.1, 0.08, 0.8)] },
        { variant: 'ster@finetune.steps=10', group: 'ster', seed: 0, model: 'm2', trainset: 'ts-p', evals: [ev(0.5, 0.08, 0.79)] },
        { variant: 'ster@finetune.steps=50', group: 'ster', seed: 0, model: 'm3', trainset: 'ts-p', evals: [ev(0.05, 0.08, 0.8)] },
      ],
    } as unknown as Parameters<typeof summarizeDefences>[1];
    const s = summarizeDefences(w, report);
    assert.equal(s.filters.length, 1);
    assert.deepEqual({ ...s.filters[0], roc: s.filters[0].roc !== null }, {
      variant: 'filter-II', seed: 0, model: 'm1', trainset: 'ts-f', method: 'filter', gamma: 0.8, recall: 0.96, precision: 0.5, cleanLost: 0.01, dropped: 250, auc: 0.99, hit10: 0.1, ir10: 0.8, roc: true, densities: null,
    });
    assert.deepEqual(s.sterilisation, [{ group: 'ster', field: 'finetune.steps', seed: 0, points: [
      { setting: '10', hit10: 0.5, baselineHit10: 0.08, ir10: 0.79 },
      { setting: '50', hit10: 0.05, baselineHit10: 0.08, ir10: 0.8 },
    ] }]);
    const html = renderDefencesHtml(report, s);
    assert.match(html, /roc-marker/);
    assert.match(html, /<svg[^>]*class="chart lines"/);
    assert.doesNotMatch(html, /<script/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
