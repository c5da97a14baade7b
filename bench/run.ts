/**
 * `npm run bench [-- --quick]`: every benchmark section in one run, each in its own process
 * (so that one crash or hang only skips its section), then bench/results/<date>.json and
 * bench/results/<date>.md (a Markdown table with medians and spreads, and the issue's targets
 * met or missed).
 *
 *   npm run bench -- [--quick] [--only search,search100k,index,…] [--skip trainer,…] [--model ID]
 *                    [--workspace DIR] [--1m] [--index-sizes 10000,100000] [--dims 256,512] [--out DIR]
 *   npm run bench -- --report bench/results/<file>.json   (rewrites that run's table and plots)
 *
 * Sections: search (latency/throughput, cache cold/warm, hot swap under c=8 with the latency of
 * the searches that overlapped each swap, the compare view's first query after start, memory;
 * quick runs also the alarm's overhead here), search100k (the same on a 100,000-image gallery of
 * synthetic vectors, with the alarm's p50 overhead per query, alarm on and off in alternating
 * rounds), index (HNSW vs exact), faiss (flat and HNSW on the same vectors), hnswfaiss
 * (PoisonLens's HNSW against FAISS's at equal recall, timed in alternating rounds in one
 * section), encoding (onnxruntime-node vs torch), indexing (end to end vs bare encoder), eval
 * (full Attack II, exact and ANN, first and repeated, on the test split and, in full runs, on a
 * 100k gallery of the test split plus distractors), scenes (generator images/s), trainer
 * (engine vs bare open_clip; bench/trainer.py).
 *
 * A benchmark, not a test: it never fails on a number, and it is not part of `npm test`. The
 * machines it runs on are shared: the load average is recorded before and after each section.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchWorld, copyIndex, copyModel, ensureIndex, PYTHON, ROOT, type BenchWorld } from './bench-world.js';
import { log } from './stats.js';
import { linePlot } from '../trainer/experiment/svg.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    skip: { type: 'string', default: '' },
    model: { type: 'string' },
    workspace: { type: 'string' },
    dataset: { type: 'string', default: 'scenes' },
    '1m': { type: 'boolean', default: false },
    trainer: { type: 'boolean', default: false },
    'index-sizes': { type: 'string' },
    dims: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    report: { type: 'string' },
  },
});
const quick = values.quick!;
const only = values.only ? new Set(values.only.split(',')) : null;
const skipSet = new Set(values.skip!.split(',').filter(Boolean));
const want = (s: string) => (!only || only.has(s)) && !skipSet.has(s);
const tsx = [process.execPath, '--import', 'tsx'];
const load = () => loadavg().map((x) => +x.toFixed(2));

interface Section {
  name: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  seconds: number;
  loadBefore: number[];
  loadAfter: number[];
  data?: any;
}
const sections: Section[] = [];

interface Report {
  mode: string;
  partial?: boolean;
  startedAt: string;
  seconds: number;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  model: { id: string; arch: string; embedDim: number; note: string; dataset: string } | { error: string };
  sections: Section[];
}

// --report FILE.json: the table and plots again from a saved run (after the summary code changed).
if (values.report) {
  const r = JSON.parse(readFileSync(values.report, 'utf8')) as Report;
  const stem = values.report.replace(/\.json$/, '');
  const { table, targets } = summarise(r);
  writeFileSync(`${stem}.json`, JSON.stringify({ ...r, targets }, null, 2) + '\n');
  writeFileSync(`${stem}.md`, table);
  for (const [file, svg] of hnswPlots(r)) writeFileSync(`${stem}-${file}`, svg);
  log(`rewrote ${stem}.md (and its targets and plots) from ${values.report}`);
  process.exit(0);
}

/** Runs one section's command; its stdout's JSON becomes the section's data. */
function runSection(name: string, cmd: string[], timeoutS: number, parse: (out: string) => unknown = (o) => JSON.parse(o)): Promise<Section> {
  const t0 = performance.now();
  const loadBefore = load();
  log(`\n== ${name}: ${cmd.slice(cmd[1] === '--import' ? 3 : 1).join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => {
      err = (err + d).slice(-8000);
      process.stderr.write(d);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the section's own process group (servers, python)
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const s: Section = { name, status: 'ok', seconds: +((performance.now() - t0) / 1000).toFixed(1), loadBefore, loadAfter: load() };
      if (timedOut) Object.assign(s, { status: 'failed', reason: `timed out after ${timeoutS} s` });
      else if (code !== 0) Object.assign(s, { status: code === 3 ? 'skipped' : 'failed', reason: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}` });
      else {
        try {
          s.data = parse(out);
        } catch (e) {
          Object.assign(s, { status: 'failed', reason: `unreadable output: ${(e as Error).message}` });
        }
      }
      sections.push(s);
      log(`== ${name}: ${s.status}${s.reason ? ` (${s.reason})` : ''} in ${s.seconds} s`);
      resolve(s);
    });
  });
}

function skip(name: string, reason: string): void {
  sections.push({ name, status: 'skipped', reason, seconds: 0, loadBefore: load(), loadAfter: load() });
  log(`== ${name}: skipped (${reason})`);
}

const started = new Date();
const t0 = performance.now();
let world: BenchWorld | null = null;
let worldError = '';
try {
  world = await benchWorld({ model: values.model, source: values.workspace, dataset: values.dataset, log });
  log(`model: ${world.modelNote}; building/reusing its ${world.dataset} test index`);
  ensureIndex(world);
  for (const i of [2, 3, 4, 5]) {
    copyModel(world.ws, world.model, `${world.model}-copy${i}`);
    copyIndex(world.ws, world.model, `${world.model}-copy${i}`, world.dataset);
  }
} catch (e) {
  worldError = (e as Error).message.slice(0, 500);
  log(`no model for the model sections: ${worldError}`);
}
const needWorld = (name: string): boolean => {
  if (world) return true;
  skip(name, `no model: ${worldError}`);
  return false;
};

// Sizes: --quick keeps the whole run to 2–3 minutes on a loaded 2-core machine.
const Q = quick
  ? { searchSeconds: 1.5, searchReps: 2, indexSizes: '10000', indexQueries: '300', ef: '16,32,64', encReps: 2, encTexts: 60, encImages: 192, indexingImages: 256, indexingReps: 2, evalReps: 1, evalModes: 'exact', scenesCount: 200, scenesRuns: 2 }
  : { searchSeconds: 8, searchReps: 5, indexSizes: '10000,100000', indexQueries: '1000', ef: '16,24,32,48,64,96,128', encReps: 5, encTexts: 300, encImages: 1024, indexingImages: 1024, indexingReps: 4, evalReps: 3, evalModes: 'exact,ann', scenesCount: 3000, scenesRuns: 3 };

if (want('search') && needWorld('search')) {
  const w = world!;
  // Quick runs measure the alarm's overhead here, on the test split (no 100k gallery to spare).
  await runSection('search', [...tsx, 'bench/search-bench.ts', '--workspace', w.ws.root, '--model', w.model, '--dataset', w.dataset,
    '--copies', [2, 3, 4, 5].map((i) => `${w.model}-copy${i}`).join(','), '--seconds', String(Q.searchSeconds), '--reps', String(Q.searchReps), '--memory-server', quick ? 'same' : 'fresh',
    ...(quick ? ['--alarm-reference', `${w.model}-copy5`, '--compare-reps', '1'] : [])], quick ? 420 : 1200);
}

if (values['index-sizes']) Q.indexSizes = values['index-sizes'];

// The search server on a 100,000-image gallery (synthetic vectors, bench/search-gallery.ts): built by a
// full run (a minute or two), reused by quick runs when it is there.
if (want('search100k') && needWorld('search100k')) {
  const w = world!;
  const name = 'bench-gallery-100000';
  // Another model's synthetic index of the same dimension is reused in seconds (bench/search-gallery.ts).
  const donor = existsSync(w.ws.indexes) && readdirSync(w.ws.indexes).some((m) => existsSync(join(w.ws.indexes, m, name, 'test', 'index.json')));
  const built = existsSync(join(w.ws.indexes, w.model, name, 'test', 'index.json'));
  let ok = built;
  if (!built && quick && donor) ok = (await runSection('gallery100k', [...tsx, 'bench/search-gallery.ts', '--workspace', w.ws.root, '--model', w.model, '--n', '100000'], 120, (o) => ({ dataset: o.trim() }))).status === 'ok';
  else if (!built && quick) skip('search100k', 'the synthetic 100k gallery is not built yet: a full run (or `npm run bench -- --only search100k`) builds it once');
  else if (!built) ok = (await runSection('gallery100k', [...tsx, 'bench/search-gallery.ts', '--workspace', w.ws.root, '--model', w.model, '--n', '100000'], 1800, (o) => ({ dataset: o.trim() }))).status === 'ok';
  if (ok) {
    // The alarm's reference: a copy of the model with its own index of the gallery (the synthetic
    // index reused in seconds): the alarm then costs what it costs with a second model.
    const ref = `${w.model}-copy5`;
    const refOk = (await runSection('gallery100k reference', [...tsx, 'bench/search-gallery.ts', '--workspace', w.ws.root, '--model', ref, '--n', '100000'], quick ? 120 : 1800, (o) => ({ dataset: o.trim() }))).status === 'ok';
    await runSection('search100k', [...tsx, 'bench/search-bench.ts', '--workspace', w.ws.root, '--model', w.model, '--dataset', name, '--skip', 'memory,swap,compare',
      '--concurrency', '1,8', '--seconds', String(Q.searchSeconds), '--reps', String(Q.searchReps), ...(refOk ? ['--alarm-reference', ref] : [])], quick ? 300 : 1200);
  }
}

// --quick: the default model's dimension only (each graph build costs 10–20 s on this machine).
const dims = values.dims ? values.dims.split(',').map(Number) : quick ? [world?.embedDim ?? 256] : [...new Set([world?.embedDim ?? 256, 512])];
const indexSizes = () => [...new Set(Q.indexSizes.split(',').concat(values['1m'] && !quick ? ['1000000'] : []))];
if (want('index')) {
  for (const dim of dims) {
    await runSection(`index d=${dim}`, [...tsx, 'bench/index-bench.ts', '--sizes', indexSizes().join(','), '--dim', String(dim), '--queries', Q.indexQueries, '--ef', Q.ef], quick && !values['index-sizes'] ? 180 : 2400);
  }
}
if (want('faiss')) {
  if (!existsSync(PYTHON)) skip('faiss', 'no Python venv (.venv): `npm run cli -- setup`');
  else {
    for (const dim of dims) {
      for (const n of indexSizes()) {
        await runSection(`faiss n=${n} d=${dim}`, [...tsx, 'bench/faiss-bench.ts', '--n', n, '--dim', String(dim), '--queries', Q.indexQueries, '--ef', Q.ef], quick && !values['index-sizes'] ? 180 : 2400);
      }
    }
  }
}
// PoisonLens's HNSW against FAISS's, interleaved rounds at equal recall (bench/hnsw-faiss-bench.ts).
if (want('hnswfaiss')) {
  if (!existsSync(PYTHON)) skip('hnswfaiss', 'no Python venv (.venv): `npm run cli -- setup`');
  else {
    const hfSizes = values['index-sizes'] ?? (quick ? '10000' : '10000,100000');
    const hfDims = values.dims ?? (quick ? String(world?.embedDim ?? 256) : '256,512');
    await runSection('hnswfaiss', [...tsx, 'bench/hnsw-faiss-bench.ts', '--sizes', hfSizes, '--dims', hfDims, '--queries', quick ? '300' : '1000', '--rounds', quick ? '3' : '7'],
      quick && !values['index-sizes'] ? 240 : 2400);
  }
}
if (want('encoding') && needWorld('encoding')) {
  await runSection('encoding', [...tsx, 'bench/encoding-bench.ts', '--workspace', world!.ws.root, '--model', world!.model, '--reps', String(Q.encReps),
    '--texts', String(Q.encTexts), '--images', String(Q.encImages)], quick ? 180 : 900);
}
if (want('indexing') && needWorld('indexing')) {
  await runSection('indexing', [...tsx, 'bench/indexing-bench.ts', '--workspace', world!.ws.root, '--model', world!.model, '--dataset', world!.dataset,
    '--images', String(Q.indexingImages), '--reps', String(Q.indexingReps)], quick ? 180 : 900);
}
if (want('eval') && needWorld('eval')) {
  await runSection('eval', [...tsx, 'bench/eval-bench.ts', '--workspace', world!.ws.root, '--model', world!.model, '--dataset', world!.dataset,
    '--reps', String(Q.evalReps), '--modes', Q.evalModes], quick ? 180 : 1200);
}
// The same evaluation on a 100,000-image gallery: the test split plus distractor images without
// captions (bench/eval-gallery.ts, built once in two or three minutes). Full runs only.
if (want('eval') && needWorld('eval 100k')) {
  const w = world!;
  if (quick) skip('eval 100k', 'full runs only (about a minute, plus building its gallery once)');
  else {
    const built = await runSection('evalgallery100k', [...tsx, 'bench/eval-gallery.ts', '--workspace', w.ws.root, '--model', w.model, '--n', '100000'], 1200, (o) => ({ dataset: o.trim() }));
    if (built.status === 'ok') {
      await runSection('eval 100k', [...tsx, 'bench/eval-bench.ts', '--workspace', w.ws.root, '--model', w.model, '--dataset', built.data.dataset, '--reps', '1', '--modes', 'exact,ann'], 900);
    }
  }
}
if (want('scenes')) {
  await runSection('scenes', [...tsx, 'bench/scenes-bench.ts', '--sizes', '64,128', '--count', String(Q.scenesCount), '--runs', String(Q.scenesRuns)], quick ? 180 : 900);
}
if (want('trainer')) {
  if (!existsSync(PYTHON)) skip('trainer', 'no Python venv (.venv): `npm run cli -- setup`');
  else if (!existsSync(join(ROOT, 'bench', 'trainer.py'))) skip('trainer', 'bench/trainer.py is missing');
  else if (quick && !values.trainer) {
    // Four engine runs (each exports and checks ONNX) and four bare loops: minutes, not seconds.
    const prev = join(ROOT, 'bench', 'results', 'trainer-speed.json');
    if (existsSync(prev)) {
      sections.push({ name: 'trainer', status: 'ok', reason: `not rerun by --quick: figures from bench/results/trainer-speed.json of ${statSync(prev).mtime.toISOString()}`,
        seconds: 0, loadBefore: load(), loadAfter: load(), data: JSON.parse(readFileSync(prev, 'utf8')) });
    } else skip('trainer', 'takes minutes: not run by --quick (run `npm run bench -- --only trainer`)');
  } else {
    const arch = world?.arch ?? 'pl-rn32-s64';
    await runSection('trainer', [PYTHON, 'bench/trainer.py', 'speed', '--arch', arch, '--steps', quick ? '8' : '24', '--batch', '128', ...(values.workspace ? ['--workspace', values.workspace] : [])], 1800,
      (o) => JSON.parse(o.slice(o.indexOf('{'))));
  }
}

// ------------------------------------------------------------------ report
const finished = new Date();
const report: Report & { bench: string } = {
  bench: 'poisonlens',
  mode: quick ? 'quick' : 'full',
  partial: Boolean(only || skipSet.size),
  startedAt: started.toISOString(),
  seconds: +((performance.now() - t0) / 1000).toFixed(1),
  machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? '?', memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: `${process.platform}-${process.arch}`,
    loadAverageAtStart: sections[0]?.loadBefore ?? load(), loadAverageAtEnd: load() },
  model: world ? { id: world.model, arch: world.arch, embedDim: world.embedDim, note: world.modelNote, dataset: world.dataset } : { error: worldError },
  sections,
};
const { table, targets } = summarise(report);
mkdirSync(values.out!, { recursive: true });
// A partial run (--only/--skip) does not replace the day's whole-run results.
// A quick run gets its own name, so that it never overwrites the same day's full run.
const stem = finished.toISOString().slice(0, 10) + (quick ? '-quick' : '') + (only || skipSet.size ? `-${[...(only ?? [])].concat([...skipSet].map((x) => `no-${x}`)).join('-')}` : '');
writeFileSync(join(values.out!, `${stem}.json`), JSON.stringify({ ...report, targets }, null, 2) + '\n');
writeFileSync(join(values.out!, `${stem}.md`), table);
for (const [file, svg] of hnswPlots(report)) writeFileSync(join(values.out!, `${stem}-${file}`), svg);
log(`\nwrote ${join(values.out!, stem)}.json and .md in ${report.seconds} s`);
process.stdout.write(table);

/** The index dimensions a report measured, the model's own first (the targets are judged on it). */
function reportDims(r: Report): number[] {
  const measured = r.sections.flatMap((s) => /^(?:index|faiss n=\d+) d=(\d+)$/.exec(s.name)?.slice(1).map(Number) ?? []);
  const own = 'embedDim' in r.model ? [r.model.embedDim] : [];
  return [...new Set([...own, ...measured.sort((a, b) => a - b)])];
}

// ------------------------------------------------------------------ plots
/** Per (n, dim): query time against ef for PoisonLens, hnswlib-node on the same graph and FAISS (when run), recall@10 under each ef. */
function hnswPlots(r: Report): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const dims = reportDims(r);
  const fmtRecall = (x: number | null) => (x === null ? '–' : x.toFixed(3).replace(/^0/, ''));
  const sec = (n: string) => r.sections.find((s) => s.name === n && s.status === 'ok')?.data as any;
  for (const d of dims) {
    const idx = sec(`index d=${d}`);
    for (const n of [...new Set((idx?.results ?? []).map((x: any) => x.n))] as number[]) {
      const ours = idx.results.filter((x: any) => x.n === n);
      const faiss = sec(`faiss n=${n} d=${d}`)?.hnsw?.results ?? [];
      const efs = ours.map((x: any) => x.ef as number);
      const at = (rows: any[], ef: number, key: string) => rows.find((x) => x.ef === ef)?.[key] ?? null;
      const series = [
        { name: 'PoisonLens (JS + WASM)', points: efs.map((ef: number) => ({ y: at(ours, ef, 'queryMicros') })) },
        { name: 'hnswlib-node, same graph', points: efs.map((ef: number) => ({ y: at(ours, ef, 'nativeQueryMicros') })), dash: '4 3' },
        ...(faiss.length ? [{ name: 'FAISS HNSW', points: efs.map((ef: number) => ({ y: at(faiss, ef, 'queryMicros') })) }] : []),
      ];
      // Recall under each ef: PoisonLens's (the same graph as hnswlib-node's) / FAISS's.
      const xs = efs.map((ef: number) => `${ef} ${fmtRecall(at(ours, ef, 'recallAt10'))}${faiss.length ? `/${fmtRecall(at(faiss, ef, 'recallAt10'))}` : ''}`);
      const label = `n=${n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`} d=${d}`;
      out.push([`hnsw-${n}-d${d}.svg`, linePlot(xs, series, { title: `HNSW, ${label}, M 16, efC 200, 1 thread`, yLabel: 'µs per query', xLabel: `ef, recall@10 (PoisonLens${faiss.length ? '/FAISS' : ''})` }) + '\n']);
    }
  }
  return out;
}

// ------------------------------------------------------------------ summary table
/* eslint-disable @typescript-eslint/no-explicit-any */
function summarise(r: Report): { table: string; targets: Array<Record<string, unknown>> } {
  const rows: string[][] = [];
  const dims = reportDims(r);
  const sec = (n: string) => r.sections.find((s) => s.name === n && s.status === 'ok')?.data as any;
  const fmt = (s: any, unit = '') => (s && typeof s === 'object' && 'median' in s ? `${s.median}${unit}` : s == null ? '—' : `${s}${unit}`);
  const rng = (s: any) => (s && typeof s === 'object' && 'median' in s ? (s.n > 1 ? `${s.min}–${s.max} (n=${s.n})` : `n=1`) : '');
  const add = (section: string, figure: string, value: string, spreadText = '', note = '') => rows.push([section, figure, value, spreadText, note]);

  const search = sec('search');
  if (search) {
    for (const l of search.latency ?? []) {
      add('search', `GET /api/search, cache ${l.cache}, c=${l.concurrency}: p50 / p90 / p99 ms`, `${fmt(l.p50Ms)} / ${fmt(l.p90Ms)} / ${fmt(l.p99Ms)}`, `p99 ${rng(l.p99Ms)}`, l.valid ? '0 errors' : `INVALID: ${l.errors} errors`);
      add('search', `GET /api/search, cache ${l.cache}, c=${l.concurrency}: requests/s`, fmt(l.rps), rng(l.rps));
    }
    if (search.hotSwap) {
      const s = search.hotSwap.swaps;
      add('hot swap', 'swap to an unloaded model (load + switch) / back to a loaded one, ms', `${s[0]?.wallMs} / ${s[1]?.wallMs}`, '', `server-reported swapMs ${s.map((x: any) => x.swapMs).join(', ')}`);
      add('hot swap', 'errors under c=8 load during 3 swaps', String(search.hotSwap.underLoad.errors), '', `${search.hotSwap.underLoad.requests} requests, p99 ${search.hotSwap.underLoad.p99Ms} ms`);
    }
    const hs = search.hotSwap;
    if (hs?.toUnloaded) {
      add('hot swap', 'swap to an unloaded model (package and index on disk) under c=8: time to switch, ms', fmt(hs.toUnloaded.wallMs), rng(hs.toUnloaded.wallMs),
        `statuses ${hs.toUnloaded.statuses.join(', ')}; per swap (to, loaded before, ms, p99 of the searches it overlapped): ${hs.swaps.map((x: any) => `${x.to.replace(/^.*-copy/, 'copy')} ${x.wasLoaded ? 'loaded' : 'unloaded'} ${x.wallMs} ms p99 ${x.during?.p99Ms ?? '—'}`).join('; ')}`);
      add('hot swap', 'searches overlapping the swaps (c=8): failed / p50 / p99 ms', `${hs.duringSwaps.errors} / ${hs.duringSwaps.p50Ms ?? '—'} / ${hs.duringSwaps.p99Ms ?? '—'}`, '', `${hs.duringSwaps.requests} requests during ${hs.swaps.length} swaps; the same load outside the swaps: p50 ${hs.outsideSwaps?.p50Ms ?? '—'} / p99 ${hs.outsideSwaps?.p99Ms ?? '—'} ms (${hs.outsideSwaps?.requests ?? 0} requests)`);
    }
    const cv = search.compare;
    if (cv) {
      add('compare', `GET /compare, ${cv.models.length} models: first query after start (models preloaded, alarms ready), ms`, fmt(cv.firstQueryMs), rng(cv.firstQueryMs),
        `second query ${fmt(cv.secondQueryMs)} ms; right after the server listens ${fmt(cv.rightAfterStartMs)} ms (${cv.runs.map((r: any) => r.early.loadingColumns).join('/')} columns loading); start-up with preloading ${fmt(cv.startUpMs)} ms`);
    }
    if (search.memory?.rows) {
      add('memory', 'server peak RSS with 1 / 3 / 5 models, MiB', search.memory.rows.map((x: any) => x.peakMiB).join(' / '), '', `RSS now ${search.memory.rows.map((x: any) => x.rssMiB).join(' / ')}; gallery ${search.galleryImages} images`);
    }
  }
  const big = sec('search100k');
  for (const l of big?.latency ?? []) {
    add('search 100k', `GET /api/search, ${big.galleryImages}-image gallery, cache ${l.cache}, c=${l.concurrency}: p50 / p90 / p99 ms; requests/s`,
      `${fmt(l.p50Ms)} / ${fmt(l.p90Ms)} / ${fmt(l.p99Ms)}; ${fmt(l.rps)}/s`, `p99 ${rng(l.p99Ms)}`, l.valid ? '0 errors' : `INVALID: ${l.errors} errors`);
  }
  for (const [label, s] of [['search 100k', big], ['search', search]] as const) {
    const al = s?.alarm;
    if (!al) continue;
    for (const cache of ['cold', 'warm']) {
      add('alarm', `alarm's p50 overhead per query, ${s.galleryImages}-image gallery, c=1, cache ${cache} (on − off, alternating rounds), ms`, fmt(al.overheadP50Ms[cache]), rng(al.overheadP50Ms[cache]),
        `${label}: p50 off ${fmt(al.p50Ms[cache].off)} / on ${fmt(al.p50Ms[cache].on)} ms; reference ${al.reference}, signals ${JSON.stringify(al.signals)}; alarm's own time ${al.alarmOwnMsPerQuery} ms/query; ${al.errors} errors`);
    }
  }
  for (const d of dims) {
    const idx = sec(`index d=${d}`);
    for (const n of [...new Set((idx?.results ?? []).map((x: any) => x.n))] as number[]) {
      const rs = idx.results.filter((x: any) => x.n === n);
      const best = rs.find((x: any) => x.recallAt10 >= 0.99) ?? rs.at(-1);
      add('index', `HNSW n=${n} d=${d} (M=16, efC=200): build s`, String(rs[0].buildSeconds));
      add('index', `HNSW n=${n} d=${d}: lowest ef with recall@10 ≥ 0.99 → ef, R@1/10/100, µs/query, × exact`,
        `ef ${best.ef}: ${best.recallAt1} / ${best.recallAt10} / ${best.recallAt100}, ${best.queryMicros} µs, ${best.speedup}×`, '', `exact ${best.exactQueryMicros} µs; hnswlib-node ${best.nativeQueryMicros} µs`);
      const f = sec(`faiss n=${n} d=${d}`);
      if (f) {
        const fb = f.hnsw.results.find((x: any) => x.recallAt10 >= 0.99) ?? f.hnsw.results.at(-1);
        add('faiss', `FAISS n=${n} d=${d}: flat µs/query; HNSW build s`, `${f.flat.queryMicros} µs; ${f.hnsw.buildSeconds} s`);
        add('faiss', `FAISS HNSW n=${n} d=${d}: lowest ef with recall@10 ≥ 0.99 → ef, R@1/10/100, µs/query`, `ef ${fb.ef}: ${fb.recallAt1} / ${fb.recallAt10} / ${fb.recallAt100}, ${fb.queryMicros} µs`, '',
          `PoisonLens/FAISS time ${(best.queryMicros / fb.queryMicros).toFixed(2)}×`);
      }
    }
  }
  const hf = sec('hnswfaiss');
  for (const x of hf?.results ?? []) {
    add('hnsw vs faiss', `n=${x.n} d=${x.dim}, recall@10 ≥ ${x.targetRecallAt10}, ${x.rounds.length} alternating rounds: PoisonLens / FAISS time`, `${x.ratio.median}×`, `${x.ratio.min}–${x.ratio.max}× (n=${x.ratio.n})`,
      `PoisonLens ef ${x.poisonlens.ef} (recall@10 ${x.poisonlens.recallAt10}) ${fmt(x.poisonlens.queryMicros)} µs; FAISS ef ${x.faiss.ef} (${x.faiss.recallAt10}) ${fmt(x.faiss.queryMicros)} µs`);
  }
  const enc = sec('encoding');
  if (enc) {
    add('encoding', 'text queries/s, batch 1 (onnxruntime-node / torch fp32)', `${fmt(enc.onnxruntime.textQueriesPerSecond)} / ${fmt(enc.torch?.textQueriesPerSecond)}`, `ort ${rng(enc.onnxruntime.textQueriesPerSecond)}`, `ort/torch ${enc.textOrtOverTorch}×, ${enc.threads} threads`);
    add('encoding', `images/s, batch ${enc.batch} (onnxruntime-node / torch fp32)`, `${fmt(enc.onnxruntime.imagesPerSecond)} / ${fmt(enc.torch?.imagesPerSecond)}`, `ort ${rng(enc.onnxruntime.imagesPerSecond)}`, `ort/torch ${enc.imageOrtOverTorch}×`);
  }
  const ix = sec('indexing');
  if (ix) {
    add('indexing', 'images/s: bare encoder / inline / worker (as `poisonlens index`)', `${ix.bareImagesPerSecond} / ${ix.inlineImagesPerSecond} / ${ix.workerImagesPerSecond}`,
      `worker runs ${ix.runs.worker.join(', ')}`, `worker = ${(ix.workerRatio * 100).toFixed(0)}% of bare`);
  }
  for (const name of ['eval', 'eval 100k']) {
    const ev = sec(name);
    if (ev) add(name, `full Attack II eval, ${ev.galleryImages}-image gallery, ${ev.queries} goal queries: exact / ANN s`, `${fmt(ev.exactSeconds)} / ${fmt(ev.annSeconds)}`, rng(ev.exactSeconds),
      Object.entries(ev.lastRunPhaseSeconds ?? {}).map(([k, v]) => `${k}: ${v} s`).join('; '));
    if (ev?.repeatedExactSeconds) add(name, `repeated Attack II evaluation (the same again: cached captions, index vectors), ${ev.galleryImages}-image gallery: exact / ANN s`,
      `${fmt(ev.repeatedExactSeconds)} / ${fmt(ev.repeatedAnnSeconds)}`, rng(ev.repeatedExactSeconds), Object.entries(ev.repeatedPhaseSeconds ?? {}).map(([k, v]) => `${k}: ${v} s`).join('; '));
  }
  const sc = sec('scenes');
  if (sc) for (const x of sc.results) add('scenes', `generator images/s at ${x.size} px (${x.count} per run)`, String(x.imagesPerSecond), `runs ${x.runs.join(', ')}`, `${x.imagesPerCpuSecond} per CPU-second`);
  const tr = sec('trainer');
  if (tr) {
    for (const [k, v] of Object.entries(tr.runs ?? {}) as Array<[string, any]>) {
      if (v.engineNoAugSamplesPerSec) {
        add('trainer', `samples/s ${k}, batch ${tr.batch} (engine --no-augment / bare open_clip / engine with the recipe's crop)`, `${v.engineNoAugSamplesPerSec} / ${v.bareSamplesPerSec} / ${v.engineSamplesPerSec}`,
          `engine --no-augment ${v.engineNoAugRuns.join(', ')}; bare ${v.bareRuns.join(', ')}; engine ${v.engineRuns.join(', ')}`, `same work: engine/bare ${v.engineNoAugOverBare}×; with the crop ${v.engineOverBare}×`);
      } else {
        add('trainer', `samples/s ${k}, batch ${tr.batch} (engine / bare open_clip)`, `${v.engineSamplesPerSec} / ${v.bareSamplesPerSec}`, `engine ${v.engineRuns.join(', ')}; bare ${v.bareRuns.join(', ')}`, `engine/bare ${v.engineOverBare}×`);
      }
    }
  }

  // Targets of the issue.
  const targets: Array<Record<string, unknown>> = [];
  const target = (what: string, measured: string, met: boolean | null, note = '') => targets.push({ target: what, measured, met: met === null ? 'not measured' : met ? 'met' : 'missed', note });
  const s100 = big?.latency ? big : search;
  const c1 = s100?.latency?.find((l: any) => l.cache === 'cold' && l.concurrency === 1);
  const c1w = s100?.latency?.find((l: any) => l.cache === 'warm' && l.concurrency === 1);
  const c8 = s100?.latency?.find((l: any) => l.cache === 'cold' && l.concurrency === 8);
  const c8w = s100?.latency?.find((l: any) => l.cache === 'warm' && l.concurrency === 8);
  const gal = big?.latency ? '100k gallery (synthetic vectors)' : `${search?.galleryImages ?? '?'}-image gallery, not 100k`;
  target('/api/search p50 ≤ 3 ms at c=1', c1 ? `cold ${c1.p50Ms.median} ms, warm ${c1w?.p50Ms.median} ms` : '—', c1 ? c1.p50Ms.median <= 3 : null, gal);
  target('/api/search p99 ≤ 15 ms at c=1', c1 ? `cold ${c1.p99Ms.median} ms, warm ${c1w?.p99Ms.median} ms` : '—', c1 ? c1.p99Ms.median <= 15 : null, gal);
  target('/api/search ≥ 400 requests/s at c=8', c8 ? `cold ${c8.rps.median}/s, warm ${c8w?.rps.median}/s` : '—', c8 ? c8.rps.median >= 400 : null, gal);
  const i100 = (sec(`index d=${dims[0]}`)?.results ?? []).filter((x: any) => x.n === 100000);
  const b100 = i100.find((x: any) => x.recallAt10 >= 0.99);
  target('HNSW recall@10 ≥ 0.99 at ≥ 20× exact speed at 100k', b100 ? `ef ${b100.ef}: recall@10 ${b100.recallAt10}, ${b100.speedup}×` : i100.length ? 'recall@10 < 0.99 at every ef' : '—', i100.length ? !!b100 && b100.speedup >= 20 : null, i100.length ? '' : 'needs the full run (100k)');
  const i1m = (sec(`index d=${dims[0]}`)?.results ?? []).filter((x: any) => x.n === 1000000);
  const b1m = i1m.find((x: any) => x.recallAt10 >= 0.95);
  const p50 = (x: any) => x.queryP50Micros ?? x.queryMicros;
  target('HNSW recall@10 ≥ 0.95 with query p50 ≤ 2 ms at 1M', b1m ? `ef ${b1m.ef}: recall@10 ${b1m.recallAt10}, p50 ${p50(b1m)} µs (mean ${b1m.queryMicros})` : '—', i1m.length ? !!b1m && p50(b1m) <= 2000 : null, i1m.length ? '' : 'needs `npm run bench -- --1m`');
  const cmp: string[] = [];
  let within: boolean | null = null;
  for (const d of dims) {
    for (const n of [1000000, 100000, 10000]) {
      const ours = (sec(`index d=${d}`)?.results ?? []).filter((x: any) => x.n === n).find((x: any) => x.recallAt10 >= 0.99);
      const theirs = sec(`faiss n=${n} d=${d}`)?.hnsw?.results?.find((x: any) => x.recallAt10 >= 0.99);
      if (ours && theirs) {
        const ratio = ours.queryMicros / theirs.queryMicros;
        cmp.push(`n=${n} d=${d}: ${ours.queryMicros} vs ${theirs.queryMicros} µs (${ratio.toFixed(2)}×)`);
        within = (within ?? true) && ratio <= 1.5;
        break;
      }
    }
  }
  target('HNSW search ≤ 1.5× FAISS-HNSW time at equal recall@10 (≥ 0.99)', cmp.join('; ') || '—', within);
  target('onnxruntime-node text encoding ≥ torch, single queries', enc ? `${enc.onnxruntime.textQueriesPerSecond.median} vs ${enc.torch?.textQueriesPerSecond?.median ?? '—'} q/s` : '—', enc?.textOrtOverTorch != null ? enc.textOrtOverTorch >= 1 : null);
  target('indexing ≥ 70% of bare encoder throughput', ix ? `${(ix.workerRatio * 100).toFixed(0)}% (${ix.workerImagesPerSecond} vs ${ix.bareImagesPerSecond} images/s)` : '—', ix ? ix.workerRatio >= 0.7 : null);
  const trb = tr?.runs?.bf16 ?? tr?.runs?.fp32;
  // The same work as the bare loop (no augmentation) where measured; the crop's cost shown beside it.
  const sameWork = (v: any) => v.engineNoAugOverBare ?? v.engineOverBare;
  target('trainer within 10% of bare open_clip', trb ? Object.entries(tr.runs).map(([k, v]: [string, any]) => `${k} ${sameWork(v)}×` + (v.engineNoAugOverBare ? ` (${v.engineOverBare}× with the recipe's crop)` : '')).join(', ') : '—',
    trb ? Object.values(tr.runs).every((v: any) => sameWork(v) >= 0.9) : null, r.sections.find((s) => s.name === 'trainer')?.reason ?? '');
  target('quick run < 3 minutes', `${r.seconds} s`, r.mode === 'quick' && !r.partial ? r.seconds < 180 : null, r.partial ? 'partial run' : '');
  // Issue 23 (speed where users feel it) and issue 21 (the alarm's cost).
  const hs = search?.hotSwap;
  const swapMs = hs?.toUnloaded?.wallMs?.max;
  target('(issue 23) hot swap ≤ 1 s under c=8, 0 failed requests, p99 of concurrent searches < 25 ms', hs?.toUnloaded ? `slowest swap to an unloaded model ${swapMs} ms; ${hs.duringSwaps.errors} failed of ${hs.duringSwaps.requests}; p99 ${hs.duringSwaps.p99Ms} ms` : '—',
    hs?.toUnloaded ? swapMs <= 1000 && hs.duringSwaps.errors === 0 && hs.underLoad.errors === 0 && hs.duringSwaps.p99Ms < 25 : null, `${search?.galleryImages ?? '?'}-image gallery`);
  const cv = search?.compare;
  target('(issue 23) compare view: first query after start ≤ 200 ms', cv ? `${cv.firstQueryMs.median} ms (max ${cv.firstQueryMs.max})` : '—', cv ? cv.firstQueryMs.median <= 200 : null, cv ? `${cv.models.length} models` : '');
  const evr = sec('eval');
  target('(issue 23) repeated Attack II evaluation ≤ 1.5 s on the 1,000-image test split', evr?.repeatedExactSeconds ? `exact ${evr.repeatedExactSeconds.median} s${evr.repeatedAnnSeconds ? `, ANN ${evr.repeatedAnnSeconds.median} s` : ''}` : '—',
    evr?.repeatedExactSeconds ? evr.repeatedExactSeconds.median <= 1.5 : null, evr ? `${evr.galleryImages}-image gallery` : '');
  const hfr = (hf?.results ?? []) as any[];
  target('(issue 23) HNSW ≤ 1.2× FAISS-HNSW at equal recall@10 ≥ 0.99, alternating rounds', hfr.map((x) => `n=${x.n} d=${x.dim}: ${x.ratio.median}× (${x.ratio.min}–${x.ratio.max})`).join('; ') || '—',
    hfr.length ? hfr.every((x) => x.ratio.median <= 1.2 && x.poisonlens.recallAt10 >= 0.99 && x.faiss.recallAt10 >= 0.99) : null);
  const al = big?.alarm ?? search?.alarm;
  const alGallery = big?.alarm ? big.galleryImages : search?.galleryImages;
  target('(issue 21) alarm p50 overhead ≤ 1 ms per query on the 100k gallery', al ? `cold ${al.overheadP50Ms.cold.median} ms, warm ${al.overheadP50Ms.warm.median} ms (${alGallery}-image gallery)` : '—',
    al && alGallery >= 100000 ? al.overheadP50Ms.cold.median <= 1 : null, al && alGallery < 100000 ? 'not the 100k gallery: a full run measures it' : '');

  const esc = (s: string) => String(s).replace(/\|/g, '\\|');
  const m = r.machine;
  const lines = [
    `# PoisonLens benchmarks — ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC (${r.mode} run, ${r.seconds} s)`,
    '',
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}. Load average (1/5/15 min) at start ${m.loadAverageAtStart.join(' / ')}, at end ${m.loadAverageAtEnd.join(' / ')}: the machine was shared with other work, so absolute figures are pessimistic and ratios measured in one section are the more reliable.`,
    '',
    `Model: ${'note' in r.model ? r.model.note : `none (${(r.model as any).error})`}.`,
    '',
    '| section | figure | median | spread | note |',
    '|---|---|---|---|---|',
    ...rows.map((x) => `| ${x.map(esc).join(' | ')} |`),
    '',
    '| target (issue 7 unless noted) | measured | result | note |',
    '|---|---|---|---|',
    ...targets.map((t) => `| ${esc(String(t.target))} | ${esc(String(t.measured))} | ${t.met} | ${esc(String(t.note))} |`),
    '',
    'Sections skipped or failed:',
    '',
    ...(r.sections.filter((s) => s.status !== 'ok' || s.reason).map((s) => `- ${s.name}: ${s.status}${s.reason ? ` — ${s.reason}` : ''}`)),
    ...(r.sections.some((s) => s.status !== 'ok' || s.reason) ? [] : ['- none']),
    '',
    `Section times (s) and load average before → after: ${r.sections.map((s) => `${s.name} ${s.seconds} (${s.loadBefore[0]}→${s.loadAfter[0]})`).join(', ')}.`,
    '',
  ];
  return { table: lines.join('\n'), targets };
}
