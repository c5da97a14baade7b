import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { markExperimentRunning, openCatalog, recordExperimentReport, setExperimentStatus, type Catalog, type MetricRecord } from '../../core/catalog.js';
import { startJob, type Job } from '../../core/jobs.js';
import { UserError } from '../../core/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../core/fsutil.js';
import { formatSeconds } from '../../core/progress.js';
import { isValidName, type Workspace } from '../../core/workspace.js';
import { datasetDir, loadDataset, type Dataset } from '../../data/dataset.js';
import { defaultSplits, defaultWorkers, generateScenes } from '../../data/scenes/generate.js';
import { modelDir } from '../../indexer/package.js';
import { readCard } from './artefacts.js';
import { renderReportHtml } from './html.js';
import { planStudy, type Plan, type RunContext, type Step } from './plan.js';
import { buildReport, type Report } from './study-report.js';
import { expandVariants, readStudy, type DatasetSpec, type StudySpec } from './spec.js';

/**
 * `poisonlens experiment FILE.json`: datasets → training sets → models → evaluations → report.
 * Every artefact has a content-addressed name; one that exists and records the expected inputs
 * is reused, so a second run builds nothing and a changed variant rebuilds only what depends on
 * it. Progress goes to stderr ("[done/total] step"), to `onProgress`, and to the catalog's
 * `jobs` row; the experiment and every evaluation's summary are recorded in the catalog.
 */

export interface ExperimentOptions {
  dryRun?: boolean;
  /** Run only the steps matching this: a step id, a step kind (trainset, model, eval), a variant name or group, `base` or `report`. */
  only?: string;
  /** Replace the study's seeds (e.g. one seed for a quick look; the runs it builds are reused later). */
  seeds?: number[];
  /** Engine threads per training run (default 2; 1 does better on a crowded machine; with `jobs` > 1, the cores shared out). */
  threads?: number;
  /** Steps built at once (default 1): independent trainings and evaluations side by side, for studies of many small runs. */
  jobs?: number;
  quiet?: boolean;
  log?: (line: string) => void;
  onProgress?: (p: { done: number; total: number; current: string | null }) => void;
}

export interface StepSummary {
  id: string;
  kind: string;
  label: string;
  state: 'reused' | 'built' | 'to build' | 'skipped';
  why?: string;
  seconds?: number;
}

export interface ExperimentResult {
  id: string;
  dryRun: boolean;
  steps: StepSummary[];
  report: Report | null;
  reportDir: string;
  /** Why no report was written (some evaluations missing, dry run). */
  reportMissing: string | null;
  wallSeconds: number;
}

export function reportDir(ws: Workspace, id: string): string {
  return join(ws.reports, id);
}

function checkDataset(ws: Workspace, d: DatasetSpec): { exists: boolean; problem?: string } {
  const dir = datasetDir(ws, d.name);
  if (!existsSync(join(dir, 'dataset.json'))) return { exists: false };
  if (!d.scenes) return { exists: true };
  const card = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8')) as { source?: string; params?: Record<string, unknown>; seed?: number };
  const p = card.params ?? {};
  const want: Record<string, unknown> = { count: d.scenes.count, size: d.scenes.size, ...(d.scenes.testPerClass !== undefined ? { testPerClass: d.scenes.testPerClass } : {}), ...(d.scenes.val !== undefined ? { val: d.scenes.val } : {}), ...(d.scenes.balance ? { balance: d.scenes.balance } : {}), ...(d.scenes.baseImages !== undefined ? { baseImages: d.scenes.baseImages } : {}) };
  // the default world's params carry no style (absent = sentences)
  if ((p.style ?? 'sentences') !== (d.scenes.style ?? 'sentences')) return { exists: true, problem: `dataset ${d.name} exists with style ${JSON.stringify(p.style ?? 'sentences')}, the study asks for ${JSON.stringify(d.scenes.style ?? 'sentences')}: name another dataset in the study or remove ${dir}` };
  for (const [k, v] of Object.entries(want)) {
    if (p[k] !== v) return { exists: true, problem: `dataset ${d.name} exists with ${k} ${JSON.stringify(p[k])}, the study asks for ${JSON.stringify(v)}: name another dataset in the study or remove ${dir}` };
  }
  if ((card.seed ?? p.seed) !== d.scenes.seed) return { exists: true, problem: `dataset ${d.name} exists with seed ${card.seed}, the study asks for ${d.scenes.seed}: name another dataset in the study or remove ${dir}` };
  return { exists: true };
}

async function generateDataset(ws: Workspace, d: DatasetSpec, quiet: boolean): Promise<void> {
  const s = d.scenes!;
  const splits = defaultSplits(s.count);
  await generateScenes(ws, {
    name: d.name,
    count: s.count,
    size: s.size,
    seed: s.seed,
    testPerClass: s.testPerClass ?? splits.testPerClass,
    val: s.val ?? splits.val,
    balance: s.balance ?? 'uniform',
    baseImages: s.baseImages ?? null,
    ...(s.style ? { style: s.style } : {}),
    workers: defaultWorkers(s.count),
    force: false,
    quiet,
  });
}

/** The steps `only` selects, plus every dependency of theirs that is not built yet. */
function select(plan: Plan, only: string | undefined): Set<string> {
  const all = new Set(plan.steps.map((s) => s.id));
  if (!only || only === 'report') return all;
  const byId = new Map(plan.steps.map((s) => [s.id, s]));
  const chosen = plan.steps.filter((s) => s.id === only || s.kind === only || s.variants.has(only));
  if (chosen.length === 0) {
    const kinds = [...new Set(plan.steps.map((s) => s.kind))].join(', ');
    const names = [...new Set(plan.steps.flatMap((s) => [...s.variants]))].slice(0, 12).join(', ');
    throw new UserError(`--only ${only}: no step matches (a step id, a kind — ${kinds} —, report, or a variant — ${names}${names ? ', …' : ''})`, 'bad_flags');
  }
  const out = new Set<string>();
  const visit = (s: Step) => {
    if (out.has(s.id)) return;
    out.add(s.id);
    for (const d of s.deps) {
      const dep = byId.get(d);
      if (dep && !dep.state().done) visit(dep);
    }
  };
  chosen.forEach(visit);
  return out;
}

export async function runExperiment(ws: Workspace, file: string, opts: ExperimentOptions = {}): Promise<ExperimentResult> {
  const study = readStudy(file);
  return runStudy(ws, study, opts);
}

export async function runStudy(ws: Workspace, studyIn: StudySpec, opts: ExperimentOptions = {}): Promise<ExperimentResult> {
  const study = opts.seeds ? { ...studyIn, seeds: [...opts.seeds] } : studyIn;
  const t0 = performance.now();
  const log = opts.log ?? ((l: string) => console.error(l));
  const outDir = reportDir(ws, study.id);
  const result = (steps: StepSummary[], report: Report | null, reportMissing: string | null): ExperimentResult => ({
    id: study.id,
    dryRun: Boolean(opts.dryRun),
    steps,
    report,
    reportDir: outDir,
    reportMissing,
    wallSeconds: (performance.now() - t0) / 1000,
  });

  // 1. Datasets (planning needs their manifests and classes).
  const missing = missingDatasets(ws, study);
  if (opts.dryRun && missing.length) return result(dryRunDatasets(missing, opts, log), null, 'dry run');

  const db = openCatalog(ws.catalogPath);
  let job: Job | null = null;
  try {
    const summaries: StepSummary[] = [];
    for (const d of missing) summaries.push(await buildDataset(ws, d, opts, log));
    const datasets = new Map<string, Dataset>(study.datasets.map((d) => [d.name, loadDataset(ws, d.name)]));
    const variants = expandVariants(study, { classes: datasets.get(study.dataset)!.card.classes });
    const plan = planStudy(ws, study, variants, datasets);
    if (study.base.model && !readCard(ws, study.base.model)) throw new UserError(`base.model ${JSON.stringify(study.base.model)}: no such model (${modelDir(ws, study.base.model)})`, 'model_not_found');
    const selected = select(plan, opts.only);
    if (opts.dryRun) return result(dryRunPlan(plan, selected, opts, log), null, 'dry run');

    // The shared job lifecycle: dead jobs of killed runs are reaped first (which marks a study
    // they ran failed), then this one records its process identity and marks the study running.
    const todo = plan.steps.filter((s) => selected.has(s.id));
    job = startJob(db, 'experiment', study.id, { file: study.source.file, only: opts.only ?? null });
    markExperimentRunning(db, { id: study.id, path: outDir, specSha256: study.source.sha256 });
    job.progress({ done: 0, total: todo.length, current: null }, true);
    if (!opts.quiet) log(`experiment ${study.id}: ${todo.length} steps (${plan.runs.length} runs: ${plan.variants.length} variants × ${study.seeds.length} seeds)`);
    summaries.push(...(await runSteps(todo, opts, log, (p) => (opts.onProgress?.(p), job!.progress(p, true)))));
    const { report, reportMissing } = writeReport(ws, db, plan, summaries, (performance.now() - t0) / 1000, opts, log);
    job.done({ done: todo.length, total: todo.length, current: null });
    return result(summaries, report, reportMissing);
  } catch (err) {
    if (job) {
      job.fail(err);
      setExperimentStatus(db, study.id, 'failed');
    }
    throw err;
  } finally {
    db.close();
  }
}

function missingDatasets(ws: Workspace, study: StudySpec): DatasetSpec[] {
  const missing: DatasetSpec[] = [];
  for (const d of study.datasets) {
    const c = checkDataset(ws, d);
    if (c.problem) throw new UserError(c.problem, 'dataset_mismatch');
    if (c.exists) continue;
    if (!d.scenes) throw new UserError(`unknown dataset ${JSON.stringify(d.name)}: give it a scenes spec in the study to generate it, or create it first (poisonlens data …)`, 'dataset_not_found');
    missing.push(d);
  }
  return missing;
}

function dryRunDatasets(missing: DatasetSpec[], opts: ExperimentOptions, log: (l: string) => void): StepSummary[] {
  const summaries: StepSummary[] = missing.map((d) => ({ id: d.name, kind: 'dataset', label: `generate scenes dataset ${d.name} (${d.scenes!.count} images)`, state: 'to build', why: 'missing' }));
  if (!opts.quiet) {
    for (const s of summaries) log(`  ${s.state.padEnd(8)} ${s.kind.padEnd(8)} ${s.label}`);
    log(`dry run: the rest of the study is planned once the dataset${missing.length > 1 ? 's exist' : ' exists'}`);
  }
  return summaries;
}

async function buildDataset(ws: Workspace, d: DatasetSpec, opts: ExperimentOptions, log: (l: string) => void): Promise<StepSummary> {
  if (!opts.quiet) log(`[dataset] generating scenes dataset ${d.name} (${d.scenes!.count} images) …`);
  const t = performance.now();
  await generateDataset(ws, d, Boolean(opts.quiet));
  return { id: d.name, kind: 'dataset', label: `generate scenes dataset ${d.name}`, state: 'built', seconds: (performance.now() - t) / 1000 };
}

function dryRunPlan(plan: Plan, selected: Set<string>, opts: ExperimentOptions, log: (l: string) => void): StepSummary[] {
  const summaries: StepSummary[] = [];
  let build = 0;
  for (const s of plan.steps) {
    const st = s.state();
    const state: StepSummary['state'] = !selected.has(s.id) ? 'skipped' : st.done ? 'reused' : 'to build';
    if (state === 'to build') build++;
    summaries.push({ id: s.id, kind: s.kind, label: s.label, state, ...(st.why && !st.done ? { why: st.why } : {}) });
  }
  if (!opts.quiet) {
    for (const s of summaries) log(`  ${s.state.padEnd(8)} ${s.kind.padEnd(8)} ${s.label}${s.why && s.why !== 'missing' ? ` (${s.why})` : ''}`);
    log(`dry run: ${plan.steps.length} steps, ${build} to build, ${plan.steps.length - build} reused or skipped; ${plan.runs.length} runs (${plan.variants.length} variants × ${plan.study.seeds.length} seeds)`);
  }
  return summaries;
}

type StepProgress = { done: number; total: number; current: string | null };

/**
 * Builds each step that is not done, in plan order, up to `jobs` at once (a step starts once the
 * steps it depends on are built); a step whose artefact does not check out after it ran is an
 * error. After a failure no step starts; the running ones finish, then the first error is thrown.
 */
async function runSteps(todo: Step[], opts: ExperimentOptions, log: (l: string) => void, progress: (p: StepProgress) => void): Promise<StepSummary[]> {
  const jobs = Math.max(1, opts.jobs ?? 1);
  // Concurrent engines share the cores and would draw over each other's progress bars.
  const ctx = { quiet: Boolean(opts.quiet) || jobs > 1, log, threads: opts.threads ?? (jobs > 1 ? Math.max(1, Math.floor(availableParallelism() / jobs)) : undefined) };
  const summaries = new Map<string, StepSummary>();
  const waiting = new Set(todo.map((s) => s.id));
  const running = new Map<string, { label: string; done: Promise<void> }>();
  const errors: unknown[] = [];
  const report = () => progress({ done: summaries.size, total: todo.length, current: running.size ? [...running.values()].map((r) => r.label).join(' | ') : null });
  const ready = (s: Step) => s.deps.every((d) => !waiting.has(d) && !running.has(d));
  while (waiting.size || running.size) {
    for (const [n, s] of todo.entries()) {
      if (running.size >= jobs || errors.length) break;
      if (!waiting.has(s.id) || !ready(s)) continue;
      waiting.delete(s.id);
      const done = runStep(s, `[${n + 1}/${todo.length}]`, ctx, opts, log).then(
        (summary) => void summaries.set(s.id, summary),
        (err) => void errors.push(err),
      ).finally(() => (running.delete(s.id), report()));
      running.set(s.id, { label: s.label, done });
      report();
    }
    if (!running.size) break; // a failure stopped new starts (or nothing could start)
    await Promise.race([...running.values()].map((r) => r.done));
  }
  if (errors.length) throw errors[0];
  if (waiting.size) throw new Error(`steps wait on steps that never ran: ${[...waiting].join(', ')}`);
  return todo.map((s) => summaries.get(s.id)!);
}

async function runStep(s: Step, tag: string, ctx: RunContext, opts: ExperimentOptions, log: (l: string) => void): Promise<StepSummary> {
  const st = s.state();
  if (st.done) {
    if (!opts.quiet) log(`${tag} ${s.label}: reused`);
    return { id: s.id, kind: s.kind, label: s.label, state: 'reused' };
  }
  if (!opts.quiet) log(`${tag} ${s.label}${st.why && st.why !== 'missing' ? ` (rebuilding: ${st.why})` : ''} …`);
  const t = performance.now();
  await s.run(ctx);
  const after = s.state();
  if (!after.done) throw new Error(`step ${s.id} ran but its artefact does not check out: ${after.why}`);
  const seconds = (performance.now() - t) / 1000;
  if (!opts.quiet) log(`${tag} done in ${formatSeconds(seconds)}${opts.jobs && opts.jobs > 1 ? ` (${s.label})` : ''}`);
  return { id: s.id, kind: s.kind, label: s.label, state: 'built', seconds };
}

/** The report, when every evaluation is there (else the study is marked partial). */
function writeReport(ws: Workspace, db: Catalog, plan: Plan, summaries: StepSummary[], wallSeconds: number, opts: ExperimentOptions, log: (l: string) => void): { report: Report | null; reportMissing: string | null } {
  const missingEvals = plan.steps.filter((s) => s.kind === 'eval' && !s.state().done);
  if (missingEvals.length) {
    const reportMissing = `${missingEvals.length} evaluation(s) not built yet (run without --only)`;
    setExperimentStatus(db, plan.study.id, 'partial');
    if (!opts.quiet) log(`report not written: ${reportMissing}`);
    return { report: null, reportMissing };
  }
  const byKind: Record<string, { built: number; reused: number }> = {};
  for (const s of summaries) {
    const k = (byKind[s.kind] ??= { built: 0, reused: 0 });
    if (s.state === 'built') k.built++;
    else if (s.state === 'reused') k.reused++;
  }
  const built = summaries.filter((s) => s.state === 'built').length;
  const report = buildReport(ws, plan, { wallSeconds, steps: { total: summaries.length, built, reused: summaries.length - built, byKind } });
  const outDir = reportDir(ws, plan.study.id);
  writeJsonAtomic(join(outDir, 'report.json'), report);
  writeFileAtomic(join(outDir, 'report.html'), renderReportHtml(report));
  recordInCatalog(db, report);
  if (!opts.quiet) log(`report: ${join(outDir, 'report.json')} and report.html (${formatSeconds(wallSeconds)} in all)`);
  return { report, reportMissing: null };
}

/** The study done in the catalog: its report, and every evaluation's summary as a metric of its model. */
function recordInCatalog(db: Catalog, report: Report): void {
  const metrics: MetricRecord[] = report.runs.flatMap((r) =>
    r.evals.map((e) => ({
      experiment: report.id,
      model: r.model,
      dataset: e.dataset,
      kind: 'attack-eval',
      params: { variant: r.variant, seed: r.seed, attack: e.attack, goal: e.goal, reference: e.reference, mode: e.result.mode, split: e.result.split, cleanModel: e.cleanModel, eval: e.id },
      value: e.result,
    })),
  );
  recordExperimentReport(db, report.id, report, metrics);
}

/** The stored report of a study, or null (for the server's GET /experiments/:id). */
export function loadReport(ws: Workspace, id: string): Report | null {
  if (!isValidName(id)) return null;
  const p = join(reportDir(ws, id), 'report.json');
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, 'utf8')) as Report;
}
