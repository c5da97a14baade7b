/**
 * The search server under load: `poisonlens serve` in its own process, load from another process
 * on loopback (bench/load.mjs: closed loop, keep-alive), against GET /api/search.
 *
 * - latency: p50/p90/p99 and requests/s at each concurrency, with the text-embedding cache cold
 *   (every query text unique) and warm (a fixed set of queries, sent once before measuring);
 *   repetitions interleaved, medians and spread reported; a run with any error is invalid;
 * - hot swap: POST /api/models/active to copies of the model that are not loaded (package and
 *   index on disk) and back to loaded ones while concurrency-8 load runs: each swap's time, and
 *   the errors and latency percentiles of the searches that overlapped it (bench/load.mjs's
 *   timeline);
 * - compare: a fresh server started with the model active and two copies to preload (as `up`
 *   preloads the world's models): GET /compare on the three right after start (columns of models
 *   still loading say so), and its first query once the start-up has finished (models and alarms
 *   ready), the figure issue 23 asks for;
 * - alarm (with --alarm-reference ID): two servers on the same gallery, the alarm on (reference ID,
 *   the model trusted) and off, loaded in alternating rounds at c=1: the alarm's p50 overhead per
 *   query (issue 21), cold and warm text caches;
 * - memory: peak RSS (VmHWM) of a fresh server with 1, 3 and 5 models loaded (the model and its
 *   copies, named per request).
 *
 *   node --import tsx bench/search-bench.ts --workspace WS --model M --dataset N [--copies c2,c3,c4,c5]
 *        [--seconds 3] [--reps 3] [--concurrency 1,8,32] [--skip latency,memory,swap,compare] [--alarm-reference ID]
 *
 * Prints one JSON document on stdout. A benchmark: it never fails on a number.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { CLI, ROOT } from './bench-world.js';
import { log, spread } from './stats.js';

const { values } = parseArgs({
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    dataset: { type: 'string', default: 'scenes' },
    copies: { type: 'string', default: '' },
    seconds: { type: 'string', default: '3' },
    reps: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,8,32' },
    skip: { type: 'string', default: '' },
    // memory on a fresh server (default), or on the latency server after its runs (faster)
    'memory-server': { type: 'string', default: 'fresh' },
    'alarm-reference': { type: 'string' },
    'compare-reps': { type: 'string' },
  },
});
if (!values.workspace || !values.model) {
  console.error('usage: node --import tsx bench/search-bench.ts --workspace WS --model M --dataset N [--copies a,b,c,d] [--seconds 3] [--reps 3]');
  process.exit(2);
}
const ws = values.workspace;
const model = values.model;
const dataset = values.dataset!;
const copies = values.copies!.split(',').filter(Boolean);
const seconds = Number(values.seconds);
const reps = Number(values.reps);
const concs = values.concurrency!.split(',').map(Number);
const skip = new Set(values.skip!.split(',').filter(Boolean));
const token = randomBytes(18).toString('base64url');

const QUERIES = [
  'a sheep on the grass', 'an aeroplane in the sky', 'a red car on the road', 'a dog and a cat', 'two horses in a field',
  'a boat on the water', 'a person riding a bicycle', 'a bus in the city', 'a bird on a tree', 'a cow next to a sheep',
  'a train by the railway', 'a bottle on a table', 'a chair and a sofa', 'a potted plant indoors', 'a motorbike on the left',
  'a tv monitor on a desk', 'three sheep in the right half', 'a cat on the left and a dog on the right', 'a small aeroplane', 'a horse on the beach',
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Server { proc: ChildProcess; url: string; stderr: () => string; stop: () => Promise<void> }

async function startServer(env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const proc = spawn(process.execPath, [CLI, '--workspace', ws, 'serve', '--port', String(port)], {
    cwd: ROOT,
    env: { ...process.env, POISONLENS_MODEL: model, POISONLENS_DATASET: dataset, POISONLENS_RATE_LIMIT: '0', POISONLENS_ADMIN_TOKEN: token, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
    });
  const t0 = performance.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${err.slice(-800)}`);
    if (performance.now() - t0 > 180_000) {
      await stop();
      throw new Error(`server not ready after 180 s: ${err.slice(-800)}`);
    }
    try {
      const r = await fetch(`${url}/api/search?q=${encodeURIComponent('warm up')}&k=10`);
      if (r.status === 200) break;
      await r.arrayBuffer();
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`server ready on ${url} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { proc, url, stderr: () => err, stop };
}

interface LoadResult { concurrency: number; requests: number; errors: number; errorSamples: string[]; rps: number; p50: number; p90: number; p99: number; max: number; timeline?: Array<[number, number, number]> }

const epochNow = () => performance.timeOrigin + performance.now();

/** Percentiles of the requests of a load timeline that overlapped [from, to] (epoch ms). */
/** Status and latency percentiles of timeline requests ([start, end, status]). */
function requestStats(reqs: Array<[number, number, number]>): Record<string, number | null> {
  const ms = reqs.filter((r) => r[2] === 200).map(([a, b]) => b - a).sort((x, y) => x - y);
  const pct = (p: number) => (ms.length ? +ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))].toFixed(2) : null);
  return { requests: reqs.length, errors: reqs.length - ms.length, p50Ms: pct(50), p99Ms: pct(99), maxMs: ms.length ? +ms[ms.length - 1].toFixed(2) : null };
}

function windowStats(timeline: Array<[number, number, number]>, from: number, to: number): Record<string, number | null> {
  return requestStats(timeline.filter(([a, b]) => a < to && b > from));
}

function load(cfg: Record<string, unknown>): { done: Promise<LoadResult> } {
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'load.mjs'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  return {
    done: new Promise((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator failed (${code}): ${err.slice(-500)}`)))),
    ),
  };
}

function memoryOf(pid: number): { peakMiB: number; rssMiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
  return { peakMiB: Math.round(kb('VmHWM') / 1024), rssMiB: Math.round(kb('VmRSS') / 1024) };
}

async function touch(url: string, m: string): Promise<void> {
  for (const q of QUERIES.slice(0, 5)) {
    const r = await fetch(`${url}/api/search?q=${encodeURIComponent(q)}&k=10&model=${m}`);
    if (r.status !== 200) throw new Error(`search on ${m}: HTTP ${r.status} ${(await r.text()).slice(0, 300)}`);
    await r.arrayBuffer();
  }
}

const paths = QUERIES.map((q) => `/api/search?q=${encodeURIComponent(q)}&k=10`);
const out: Record<string, unknown> = { bench: 'search', model, dataset, seconds, reps };

// ---- latency and throughput, cold and warm cache, then hot swap (one server) ----
const sameServer = values['memory-server'] === 'same' && copies.length >= 4 && !skip.has('memory');
// One copy of the model is the alarm's reference of the model and of the other copies, as the
// world's base is of its fine-tunes (the copies name no parent in the bench workspace: each would
// otherwise be its own reference, opened and calibrated afresh on its first swap, which a swap
// between a world's models never does). The alarm opens it at start, for the active model.
const SHARED_REFERENCE = { POISONLENS_ALARM_REFERENCE: copies.at(-1) ?? model, POISONLENS_ALARM_TRUSTED: model };
const server = await startServer(sameServer ? { ...SHARED_REFERENCE, POISONLENS_MAX_MODELS: '8' } : SHARED_REFERENCE);
const memRows: Array<Record<string, unknown>> = [];
try {
  if (sameServer) {
    await touch(server.url, model);
    memRows.push({ models: 1, ...memoryOf(server.proc.pid!) });
  }
  try {
    out.galleryImages = JSON.parse(readFileSync(join(ws, 'indexes', model, dataset, process.env.POISONLENS_SPLIT ?? 'test', 'index.json'), 'utf8')).count;
  } catch {
    out.galleryImages = null;
  }
  const runs: Record<string, LoadResult[]> = {};
  let uniqueStart = 0;
  for (let rep = 0; rep < (skip.has('latency') ? 0 : reps); rep++) {
    for (const cache of ['cold', 'warm'] as const) {
      for (const c of concs) {
        const r = await load({ url: server.url, paths, concurrency: c, seconds, unique: cache === 'cold', uniqueStart, warmup: cache === 'warm' ? 0.5 : 0 }).done;
        uniqueStart += 1_000_000;
        (runs[`${cache}/${c}`] ??= []).push(r);
        log(`search ${cache} c=${c} rep ${rep + 1}: p50 ${r.p50} p90 ${r.p90} p99 ${r.p99} ms, ${r.rps} req/s, ${r.errors} errors`);
      }
    }
  }
  out.latency = Object.entries(runs).map(([key, rs]) => {
    const [cache, c] = key.split('/');
    const errors = rs.reduce((a, r) => a + r.errors, 0);
    return {
      cache, concurrency: Number(c), valid: errors === 0, errors, requests: rs.reduce((a, r) => a + r.requests, 0),
      errorSamples: [...new Set(rs.flatMap((r) => r.errorSamples))].slice(0, 3),
      p50Ms: spread(rs.map((r) => r.p50)), p90Ms: spread(rs.map((r) => r.p90)), p99Ms: spread(rs.map((r) => r.p99)), rps: spread(rs.map((r) => r.rps)),
    };
  });

  if (!skip.has('swap') && copies.length) {
    // Unloaded copies (package and index on disk, checksums verified in the background after
    // start) alternate with swaps back to a loaded model; c=8 load with unique (cold) queries runs
    // throughout. Each swap's window is from the POST to its answer.
    const targets = copies.length >= 2 ? [copies[0], model, copies[1], copies[0]] : [copies[0], model, copies[0]];
    const swaps: Array<Record<string, unknown>> = [];
    const loadRun = load({ url: server.url, paths, concurrency: 8, seconds: Math.max(6, seconds * 2 + targets.length * 1.5), unique: true, uniqueStart: 9e8, timeline: true });
    await new Promise((r) => setTimeout(r, 1000));
    const windows: Array<[number, number]> = [];
    for (const to of targets) {
      const loaded = ((await (await fetch(`${server.url}/healthz`)).json()) as { loaded: string[] }).loaded.includes(to);
      const t = performance.now();
      const from = epochNow();
      const res = await fetch(`${server.url}/api/models/active`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ model: to }) });
      const body = (await res.json()) as Record<string, unknown>;
      const until = epochNow();
      windows.push([from, until]);
      swaps.push({ to, wasLoaded: loaded, status: res.status, wallMs: Math.round(performance.now() - t), loadMs: body.loadMs, swapMs: body.swapMs, error: body.error });
      log(`hot swap to ${to} (${loaded ? 'loaded' : 'not loaded'}): ${res.status} in ${Math.round(performance.now() - t)} ms`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const l = await loadRun.done;
    const tl = l.timeline ?? [];
    swaps.forEach((x, i) => {
      x.during = windowStats(tl, windows[i][0], windows[i][1]);
      x.after1s = windowStats(tl, windows[i][1], windows[i][1] + 1000);
    });
    const unloaded = swaps.filter((x) => !x.wasLoaded);
    const overlaps = ([a, b]: [number, number, number]) => windows.some(([f, u]) => a < u && b > f);
    // The same load's searches that overlapped no swap: the baseline the swap's cost is read against.
    const settled = tl.length ? Math.max(...windows.map(([, u]) => u)) : 0;
    const outside = tl.filter((r) => !overlaps(r) && r[0] > tl[0][0] + 1000 && r[1] < settled);
    const hotSwap = {
      swaps,
      // The issue's figures: swaps to unloaded models, and every search that overlapped any swap.
      toUnloaded: { wallMs: spread(unloaded.map((x) => x.wallMs as number)), statuses: unloaded.map((x) => x.status) },
      duringSwaps: requestStats(tl.filter(overlaps)),
      outsideSwaps: requestStats(outside),
      underLoad: { concurrency: 8, requests: l.requests, errors: l.errors, errorSamples: l.errorSamples, p50Ms: l.p50, p99Ms: l.p99, maxMs: l.max },
    };
    out.hotSwap = hotSwap;
    log(`hot swap: ${JSON.stringify(hotSwap.duringSwaps)}`);
  }
  out.serverMemoryAfterLoad = memoryOf(server.proc.pid!);
  if (sameServer) {
    // After the latency runs and the swaps (copies[0] is loaded): peaks include the load runs.
    await touch(server.url, copies[0]);
    await touch(server.url, copies[1]);
    memRows.push({ models: 3, ...memoryOf(server.proc.pid!) });
    for (const m of copies.slice(2, 4)) await touch(server.url, m);
    memRows.push({ models: 5, ...memoryOf(server.proc.pid!) });
    const health = (await (await fetch(`${server.url}/healthz`)).json()) as { loaded: string[] };
    out.memory = { rows: memRows, loaded: health.loaded, server: 'the latency server: 1 model measured before its load runs, 3 and 5 after them (peaks include the runs)' };
    log(`memory: ${JSON.stringify(memRows)}`);
  }
} finally {
  await server.stop();
}

// ---- the compare view's first query after start (fresh servers, models preloaded) ----
if (!skip.has('compare') && copies.length >= 2) {
  const named = [model, copies[0], copies[1]];
  const compareUrl = (q: string) => `/compare?q=${encodeURIComponent(q)}&models=${named.join(',')}`;
  const timed = async (url: string, path: string) => {
    const t = performance.now();
    const r = await fetch(url + path);
    const text = await r.text();
    return { ms: +(performance.now() - t).toFixed(1), status: r.status, loadingColumns: (text.match(/data-loading=/g) ?? []).length,
      answeredColumns: (text.match(/class="grid/g) ?? []).length, alarmPreparing: (text.match(/data-alarm-state="preparing"/g) ?? []).length };
  };
  const runs: Array<Record<string, unknown>> = [];
  for (let rep = 0; rep < Number(values['compare-reps'] ?? Math.min(reps, 3)); rep++) {
    const t0 = performance.now();
    const s = await startServer({ ...SHARED_REFERENCE, POISONLENS_PRELOAD: named.slice(1).join(','), POISONLENS_MAX_MODELS: '4' });
    try {
      const readyMs = Math.round(performance.now() - t0);
      // Right after start: the page answers at once, the preloading models' columns say "loading".
      const early = await timed(s.url, compareUrl(`${QUERIES[rep % QUERIES.length]} early ${rep}`));
      // The start-up finished (/healthz startup "done": the active model's alarm, the preloaded
      // models with theirs, every package's checksums) and every named model loaded.
      for (;;) {
        const h = (await (await fetch(`${s.url}/healthz`)).json()) as { loaded: string[]; startup?: string };
        if (named.every((m) => h.loaded.includes(m)) && (h.startup ?? 'done') === 'done') break;
        if (performance.now() - t0 > 180_000) throw new Error(`preloading did not finish in 180 s: loaded ${h.loaded.join(', ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const m of named) await (await fetch(`${s.url}/api/alarm?model=${encodeURIComponent(m)}`)).arrayBuffer();
      const startedMs = Math.round(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 500));
      const first = await timed(s.url, compareUrl(`${QUERIES[(rep + 5) % QUERIES.length]} first ${rep}`));
      const second = await timed(s.url, compareUrl(`${QUERIES[(rep + 9) % QUERIES.length]} second ${rep}`));
      runs.push({ readyMs, startedMs, early, first, second });
      log(`compare rep ${rep + 1}: right after start ${early.ms} ms (${early.loadingColumns} loading); first query after start-up ${first.ms} ms (${first.answeredColumns} columns), second ${second.ms} ms`);
    } finally {
      await s.stop();
    }
  }
  out.compare = {
    models: named,
    firstQueryMs: spread(runs.map((r) => (r.first as { ms: number }).ms)),
    secondQueryMs: spread(runs.map((r) => (r.second as { ms: number }).ms)),
    rightAfterStartMs: spread(runs.map((r) => (r.early as { ms: number }).ms)),
    startUpMs: spread(runs.map((r) => r.startedMs as number)),
    runs,
  };
}

// ---- the alarm's cost per query: the alarm on and off, alternating rounds (issue 21) ----
if (values['alarm-reference']) {
  const ref = values['alarm-reference'];
  const on = await startServer({ POISONLENS_ALARM: '1', POISONLENS_ALARM_REFERENCE: ref, POISONLENS_ALARM_TRUSTED: model });
  let off: Server | null = null;
  try {
    off = await startServer({ POISONLENS_ALARM: '0' });
    // The alarm prepared (reference, prototypes, calibration) before measuring.
    const desc = (await (await fetch(`${on.url}/api/alarm?model=${encodeURIComponent(model)}&dataset=${encodeURIComponent(dataset)}`)).json()) as Record<string, any>;
    log(`alarm: ${desc.state}, reference ${desc.reference}, signals ${JSON.stringify(desc.signals)}${desc.error ? `, error: ${desc.error}` : ""}`);
    const rounds: Array<Record<string, unknown>> = [];
    let uniqueStart = 5e8;
    for (let rep = 0; rep < Math.max(2, reps); rep++) {
      for (const cache of ['cold', 'warm'] as const) {
        const order: Array<[string, Server]> = rep % 2 === 0 ? [['off', off], ['on', on]] : [['on', on], ['off', off]];
        const row: Record<string, unknown> = { rep, cache, order: order.map((o) => o[0]) };
        for (const [name, srv] of order) {
          const r = await load({ url: srv.url, paths, concurrency: 1, seconds, unique: cache === 'cold', uniqueStart, warmup: cache === 'warm' ? 0.5 : 0 }).done;
          uniqueStart += 1_000_000;
          row[name] = { p50: r.p50, p99: r.p99, rps: r.rps, errors: r.errors };
        }
        row.overheadMs = +(((row.on as { p50: number }).p50 - (row.off as { p50: number }).p50)).toFixed(3);
        rounds.push(row);
        log(`alarm ${cache} rep ${rep + 1}: p50 off ${(row.off as any).p50} / on ${(row.on as any).p50} ms → +${row.overheadMs} ms`);
      }
    }
    const metrics = await (await fetch(`${on.url}/metrics`)).text();
    const sum = Number(/poisonlens_alarm_seconds_sum(?:\{[^}]*\})? ([\d.e+-]+)/.exec(metrics)?.[1] ?? NaN);
    const count = Number(/poisonlens_alarm_seconds_count(?:\{[^}]*\})? ([\d.e+-]+)/.exec(metrics)?.[1] ?? NaN);
    const by = (cache: string) => rounds.filter((r) => r.cache === cache);
    out.alarm = {
      reference: ref, trusted: model, state: desc.state, signals: desc.signals, k: desc.k,
      overheadP50Ms: Object.fromEntries(['cold', 'warm'].map((c) => [c, spread(by(c).map((r) => r.overheadMs as number))])),
      p50Ms: Object.fromEntries(['cold', 'warm'].map((c) => [c, { off: spread(by(c).map((r) => (r.off as any).p50)), on: spread(by(c).map((r) => (r.on as any).p50)) }])),
      errors: rounds.reduce((a, r) => a + (r.on as any).errors + (r.off as any).errors, 0),
      alarmOwnMsPerQuery: count > 0 ? +((sum / count) * 1000).toFixed(3) : null,
      rounds,
    };
  } finally {
    await off?.stop();
    await on.stop();
  }
}

// ---- memory with 1, 3 and 5 models (fresh server) ----
if (!skip.has('memory') && !sameServer) {
  if (copies.length < 4) out.memory = { skipped: 'needs 4 copies of the model (--copies)' };
  else {
    const s = await startServer({ POISONLENS_MAX_MODELS: '8' });
    try {
      const rows: Array<Record<string, unknown>> = [];
      await touch(s.url, model);
      rows.push({ models: 1, ...memoryOf(s.proc.pid!) });
      for (const m of copies.slice(0, 2)) await touch(s.url, m);
      rows.push({ models: 3, ...memoryOf(s.proc.pid!) });
      for (const m of copies.slice(2, 4)) await touch(s.url, m);
      rows.push({ models: 5, ...memoryOf(s.proc.pid!) });
      const health = (await (await fetch(`${s.url}/healthz`)).json()) as { loaded: string[] };
      out.memory = { rows, loaded: health.loaded, server: 'a fresh server, models loaded by 5 searches each' };
      log(`memory: ${JSON.stringify(rows)}`);
    } finally {
      await s.stop();
    }
  }
}
console.log(JSON.stringify(out, null, 2));
