/**
 * Studies end to end on the shared tiny world (experiments/smoke.json): a base trained from
 * scratch, fine-tunes, evaluations and the report; a second run builds nothing; changing one
 * variant rebuilds only what depends on it; the report's numbers are evaluate()'s; the HTML page
 * has its tables and SVG plots. Needs the Python venv; skipped without it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.js';
import { experimentStatus, listJobs, listMetrics, openCatalog } from '../../core/catalog.js';
import type { Workspace } from '../../core/workspace.js';
import { loadTrainset } from '../../data/trainset.js';
import { evaluate } from '../../eval/evaluate.js';
import { indexerEvalBackend } from '../../eval/indexer-backend.js';
import { readModelPackage } from '../../indexer/package.js';
import { renderReportHtml, runExperiment, type ExperimentResult, type Report } from '../../trainer/experiment/experiment.js';
import { copyWorkspace, tinyWorld, tinyWorldMissing } from '../helpers/tiny-world.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SMOKE = join(ROOT, 'experiments', 'smoke.json');
const skip = tinyWorldMissing() ?? false;
let ws: Workspace;
let dispose = () => {};
let first: ExperimentResult;

before(async () => {
  if (skip) return;
  const world = await tinyWorld();
  ({ ws, dispose } = copyWorkspace(world));
  cpSync(SMOKE, join(ws.root, 'smoke.json'));
});
after(() => dispose());

const quiet = { quiet: true };

test('smoke study: builds every step, then a report with every number', { skip }, async () => {
  const dry = await runExperiment(ws, join(ws.root, 'smoke.json'), { dryRun: true, quiet: true });
  assert.ok(dry.steps.length > 0 && dry.steps.every((s) => s.state === 'to build'), 'a dry run on an empty workspace plans everything');
  assert.ok(!existsSync(join(ws.models)) || !dry.steps.some((s) => existsSync(join(ws.models, s.id))), 'a dry run builds nothing');

  first = await runExperiment(ws, join(ws.root, 'smoke.json'), quiet);
  const kinds = (k: string) => first.steps.filter((s) => s.kind === k);
  // Training sets: the base's, clean, I, II, and one for both epoch-sweep points; models: the
  // base and 4 fine-tunes (0 epochs is the base itself).
  assert.equal(kinds('trainset').length, 5);
  assert.equal(kinds('model').length, 5);
  assert.ok(first.steps.every((s) => s.state === 'built'));
  const r = first.report!;
  assert.ok(r, first.reportMissing ?? '');
  assert.equal(r.format, 'poisonlens-report/1');
  assert.equal(r.id, 'smoke');
  assert.deepEqual(r.variants.map((v) => v.name), ['base', 'clean', 'attack-I', 'attack-II', 'epochs@finetune.epochs=0', 'epochs@finetune.epochs=1']);
  assert.equal(r.runs.length, 6);
  // Files on disk: report.json equals what was returned; report.html is there.
  const onDisk = JSON.parse(readFileSync(join(first.reportDir, 'report.json'), 'utf8')) as Report;
  assert.deepEqual(onDisk.variants, JSON.parse(JSON.stringify(r.variants)));
  assert.ok(readFileSync(join(first.reportDir, 'report.html'), 'utf8').includes('<svg'));

  // Provenance: fine-tunes come from the base; the attack models are poisoned ones.
  const base = r.base.model;
  assert.match(base, /^base-[0-9a-f]{12}$/);
  for (const run of r.runs.filter((x) => x.variant !== 'base' && x.model !== base)) assert.equal(run.parent, base);
  const ii = r.runs.find((x) => x.variant === 'attack-II')!;
  assert.match(ii.model, /^poisoned-/);
  const ts = loadTrainset(ws, ii.trainset!);
  assert.equal(ts.card.counts.poisonedPairs, 2 * 2, 'two sheep images, two captions each');
  assert.equal(ii.poison!.rate, ts.card.counts.poisoningRate);
  assert.equal(readModelPackage(join(ws.models, ii.model)).card.kind, 'poisoned');
  // 0 epochs: the poisoned training set is built, the model is the base, evaluated on the goal.
  const zero = r.runs.find((x) => x.variant === 'epochs@finetune.epochs=0')!;
  const one = r.runs.find((x) => x.variant === 'epochs@finetune.epochs=1')!;
  assert.equal(zero.model, base);
  assert.equal(zero.train, null);
  assert.equal(zero.trainset, one.trainset);
  assert.equal(zero.poison!.poisonedPairs, 3 * 2);
  assert.equal(zero.evals[0].goal, 'car>sheep');

  // The sweep is one line per setting.
  assert.equal(r.sweeps.length, 1);
  assert.deepEqual(r.sweeps[0].points.map((p) => p.value), [0, 1]);
  assert.equal(r.sweeps[0].field, 'finetune.epochs');

  // Catalog: the experiment and one metrics row per evaluation.
  const db = openCatalog(ws.catalogPath);
  try {
    assert.equal(experimentStatus(db, 'smoke'), 'done');
    const n = listMetrics(db, { experiment: 'smoke' }).length;
    assert.equal(n, r.runs.reduce((a, x) => a + x.evals.length, 0));
    const job = listJobs(db, { type: 'experiment', target: 'smoke' })[0];
    assert.equal(job.state, 'done');
    assert.deepEqual(JSON.parse(job.progress!), { done: first.steps.length, total: first.steps.length, current: null });
  } finally {
    db.close();
  }
});

test('report numbers are evaluate()’s numbers', { skip }, async () => {
  const r = first.report!;
  const run = r.runs.find((x) => x.variant === 'attack-II')!;
  const stored = run.evals[0];
  const clean = r.runs.find((x) => x.variant === 'clean')!.model;
  const fresh = await evaluate(ws, { model: run.model, dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', cleanModel: clean, ks: [1, 5, 10], seed: 0 }, { backend: indexerEvalBackend(ws) });
  const strip = (x: unknown) => JSON.parse(JSON.stringify(x, (k, v) => (k === 'perQuery' || k === 'tookMs' ? undefined : v)));
  assert.deepEqual(strip(stored.result), strip(fresh));
  // One seed: the aggregate's mean is the run's value and there is no interval.
  const agg = r.variants.find((v) => v.name === 'attack-II')!;
  const g = fresh.goals[0];
  assert.equal(agg.goals[0].model.hit['10'].mean, g.model.hit['10']);
  assert.equal(agg.goals[0].model.minRank.mean.mean, g.model.minRank.mean);
  assert.equal(agg.goals[0].baseline.hit['10'].mean, g.baseline.hit['10']);
  assert.equal(agg.goals[0].clean!.hit['1'].mean, g.clean!.hit['1']);
  assert.equal(agg.goals[0].model.hit['10'].lo, null);
  assert.equal(agg.utility!.model.ir['10'].mean, fresh.utility!.model.ir['10']);
  assert.equal(agg.drift!.image.mean, fresh.drift!.image.mean);
  // Attack I is evaluated against its one target image, named by its training set.
  const i = r.runs.find((x) => x.variant === 'attack-I')!;
  assert.equal(i.evals[0].result.goals[0].targets.kind, 'image');
  assert.deepEqual(i.evals[0].result.goals[0].targets.ids, [i.poison!.targetImage]);
  // The paper-shaped tables are there.
  assert.deepEqual(r.tables.map((t) => t.id), ['table1', 'table2', 'table4', 'summary', 'drift']);
});

test('a second run builds nothing; changing one variant rebuilds only it', { skip }, async () => {
  const models = () => new Map(first.report!.runs.map((x) => [x.model, statSync(join(ws.models, x.model, 'model.json')).mtimeMs]));
  const before = models();
  const again = await runExperiment(ws, join(ws.root, 'smoke.json'), quiet);
  assert.ok(again.steps.every((s) => s.state === 'reused'), again.steps.filter((s) => s.state !== 'reused').map((s) => s.label).join('; '));
  assert.deepEqual(models(), before);
  assert.ok(again.report);

  const spec = JSON.parse(readFileSync(SMOKE, 'utf8'));
  spec.variants.find((v: { name: string }) => v.name === 'attack-II').poisonImages = 1;
  const changed = join(ws.root, 'smoke-changed.json');
  writeFileSync(changed, JSON.stringify({ ...spec, id: 'smoke-changed' }));
  const dry = await runExperiment(ws, changed, { dryRun: true, quiet: true });
  const toBuild = dry.steps.filter((s) => s.state === 'to build');
  assert.deepEqual(toBuild.map((s) => s.kind).sort(), ['eval', 'model', 'trainset']);
  const third = await runExperiment(ws, changed, quiet);
  const built = third.steps.filter((s) => s.state === 'built');
  assert.deepEqual(built.map((s) => s.kind).sort(), ['eval', 'model', 'trainset']);
  assert.ok(built.every((s) => s.label.includes('attack-II') || s.label.includes('1 images/goal')), built.map((s) => s.label).join('; '));
  assert.deepEqual(models(), before, 'the other models are untouched');
  const newII = third.report!.runs.find((x) => x.variant === 'attack-II')!;
  assert.notEqual(newII.model, first.report!.runs.find((x) => x.variant === 'attack-II')!.model);
  assert.equal(newII.poison!.poisonedPairs, 2);

  // --only: one variant's steps (all built already) and nothing else.
  const only = await runExperiment(ws, changed, { only: 'clean', quiet: true });
  assert.ok(only.steps.length > 0 && only.steps.length < third.steps.length);
  assert.ok(only.steps.every((s) => s.state === 'reused'));
});

test('a model whose package was removed is rebuilt, nothing else', { skip }, async () => {
  const clean = first.report!.runs.find((x) => x.variant === 'clean')!.model;
  const { rmSync } = await import('node:fs');
  rmSync(join(ws.models, clean), { recursive: true, force: true });
  const dry = await runExperiment(ws, join(ws.root, 'smoke.json'), { dryRun: true, quiet: true });
  const toBuild = dry.steps.filter((s) => s.state === 'to build');
  // The clean model, and the evaluations that read it (its own and those using it as the clean reference).
  assert.ok(toBuild.some((s) => s.id === clean));
  assert.ok(toBuild.every((s) => s.id === clean || s.kind === 'eval'));
});

test('--jobs 2 builds independent steps side by side and gives the same report', { skip }, async () => {
  const { rmSync } = await import('node:fs');
  const runs = first.report!.runs.filter((x) => x.variant === 'clean' || x.variant.startsWith('attack-'));
  for (const x of runs) rmSync(join(ws.models, x.model), { recursive: true, force: true });
  const lines: string[] = [];
  const r = await runExperiment(ws, join(ws.root, 'smoke.json'), { jobs: 2, log: (l) => lines.push(l) });
  const built = r.steps.filter((s) => s.state === 'built' && s.kind === 'model').map((s) => s.id).sort();
  assert.deepEqual(built, [...new Set(runs.map((x) => x.model))].sort());
  // Two trainings started before the first step finished.
  const firstDone = lines.findIndex((l) => / done in /.test(l));
  assert.ok(lines.slice(0, firstDone).filter((l) => l.includes('fine-tune') && l.endsWith('…')).length >= 2, lines.join('\n'));
  assert.deepEqual(r.report!.variants.map((v) => v.name), first.report!.variants.map((v) => v.name));
  assert.deepEqual(r.report!.runs.map((x) => x.model), first.report!.runs.map((x) => x.model), 'the same content-addressed models');
  const threads = readModelPackage(join(ws.models, built[0])).card.trainer as { config: { threads: number } };
  assert.equal(threads.config.threads, Math.max(1, Math.floor(availableParallelism() / 2)), 'the cores shared out');
});

test('the HTML report has the tables and the SVG plots, escapes text and has no script', { skip }, () => {
  const r = structuredClone(first.report!);
  r.title = 'Smoke <b>&</b> "quotes"';
  const html = renderReportHtml(r);
  assert.match(html, /^<!doctype html>/);
  assert.ok(html.includes('Smoke &lt;b&gt;&amp;&lt;/b&gt; &quot;quotes&quot;'));
  assert.ok(!/<script/i.test(html));
  assert.ok(!/ style="/i.test(html), 'no inline style attributes (CSP style-src self)');
  for (const id of ['table1', 'table2', 'table4', 'summary', 'drift']) assert.ok(html.includes(`id="${id}"`), id);
  const svgs = html.match(/<svg /g) ?? [];
  // Hit@K + MinRank per goal (2 goals), utility, and 3 plots for the sweep.
  assert.ok(svgs.length >= 2 * 2 + 1 + 3, `only ${svgs.length} plots`);
  assert.ok(html.includes('Hit@K per model — sheep&gt;aeroplane'));
  assert.ok(html.includes('sweep over finetune.epochs'));
  // Served variant: a stylesheet link instead of the inline <style>.
  const served = renderReportHtml(r, { stylesheetHref: '/static/report.css' });
  assert.ok(served.includes('<link rel="stylesheet" href="/static/report.css">'));
  assert.ok(!served.includes('<style>'));
});

test('experiment CLI: bad study files fail with one line naming the field', { skip }, async () => {
  const bad = (name: string, body: unknown) => {
    const p = join(ws.root, `${name}.json`);
    writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
    return p;
  };
  const spec = JSON.parse(readFileSync(SMOKE, 'utf8'));
  const cases: Array<[string, unknown, RegExp]> = [
    ['json', '{"variants": [', /not valid JSON/],
    ['goal', { ...spec, variants: [{ name: 'a', kind: 'attack', attack: 'II', goal: 'sheep', poisonImages: 1 }] }, /variants\[0\]\.goal: bad goal "sheep"/],
    ['class', { ...spec, variants: [{ name: 'a', kind: 'attack', attack: 'II', goal: 'sheep>unicorn', poisonImages: 1 }] }, /variants\[0\]\.goal: unknown class "unicorn"/],
    ['kind', { ...spec, variants: [{ name: 'a', kind: 'magic' }] }, /variants\[0\]\.kind: unknown variant kind "magic"/],
    ['field', { ...spec, varients: [] }, /varients: unknown field/],
    ['budget', { ...spec, variants: [{ name: 'a', kind: 'attack', attack: 'II', goal: 'sheep>car' }] }, /variants\[0\]\.poisonImages: give the budget/],
    ['seeds', { ...spec, seeds: [1, 1] }, /seeds: has a repeated seed/],
    ['lr', { ...spec, finetune: { ...spec.finetune, lr: -1 } }, /finetune\.lr: must be > 0/],
    ['dataset', { ...spec, datasets: { nowhere: {} } }, /unknown dataset "nowhere"/],
    ['sweep', { ...spec, variants: [{ name: 'a', kind: 'clean', sweep: { 'finetune.epochs': [1, 1] } }] }, /variants\[0\]\.sweep\.finetune\.epochs: has a repeated value/],
  ];
  for (const [name, body, want] of cases) {
    const err: string[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => void err.push(a.join(' '));
    let code: number;
    try {
      code = await main(['--workspace', ws.root, 'experiment', bad(`bad-${name}`, body), '--quiet']);
    } finally {
      console.error = orig;
    }
    assert.equal(code, 2, name);
    assert.equal(err.length, 1, `${name}: ${err.join(' | ')}`);
    assert.ok(!err[0].includes('\n'), `${name}: one line: ${err[0]}`);
    assert.match(err[0], want, name);
  }
});

test('a base trained under another name with the same pairs and settings is adopted, not retrained', { skip }, async () => {
  const { cpSync: cp, rmSync, readFileSync: read, writeFileSync: write } = await import('node:fs');
  const base = first.report!.base.model;
  const other = join(ws.models, 'my-base');
  cp(join(ws.models, base), other, { recursive: true });
  const card = JSON.parse(read(join(other, 'model.json'), 'utf8'));
  write(join(other, 'model.json'), JSON.stringify({ ...card, id: 'my-base', name: 'my-base' }));
  rmSync(join(ws.models, base), { recursive: true, force: true });
  const dry = await runExperiment(ws, join(ws.root, 'smoke.json'), { dryRun: true, quiet: true });
  assert.ok(!dry.steps.some((s) => s.kind === 'model' && s.label.includes('from scratch')), 'no base training step');
  assert.ok(dry.steps.filter((s) => s.kind === 'model').every((s) => s.label.startsWith('fine-tune')));
  // A different seed is a different base: trained, not adopted.
  const spec = JSON.parse(read(SMOKE, 'utf8'));
  const p = join(ws.root, 'smoke-seed1.json');
  write(p, JSON.stringify({ ...spec, id: 'smoke-seed1', base: { ...spec.base, seed: 1 } }));
  const dry1 = await runExperiment(ws, p, { dryRun: true, quiet: true });
  assert.ok(dry1.steps.some((s) => s.kind === 'model' && s.label.includes('from scratch') && s.state === 'to build'));
});
