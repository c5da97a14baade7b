/**
 * The search server under load: `poisonlens serve` in its own process, load from another process
 * on loopback (bench/load.mjs: closed loop, keep-alive), against GET /api/search.
 *
 * - latency: p50/p90/p99 and requests/s at each concurrency, with the text-embedding cache cold
 *   (every query text unique) and warm (a fixed set of queries, sent once before measuring);
 *   repetitions interleaved, medians and spread reported; a run with any error is invalid;
 * - hot swap: POST /api/models/active to a copy of the model and back while concurrency-8 load
 *   runs: the swap's own times and the load's errors;
 * - memory: peak RSS (VmHWM) of a fresh server with 1, 3 and 5 models loaded (the model and its
 *   copies, named per request).
 *
 *   node --import tsx bench/search.ts --workspace WS --model M --dataset N [--copies c2,c3,c4,c5]
 *        [--seconds 3] [--reps 3] [--concurrency 1,8,32] [--skip memory,swap]
 *
 * Prints one JSON document on stdout. A benchmark: it never fails on a number.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { CLI, ROOT } from './world.js';
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
  },
});
if (!values.workspace || !values.model) {
  console.error('usage: node --import tsx bench/search.ts --workspace WS --model M --dataset N [--copies a,b,c,d] [--seconds 3] [--reps 3]');
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

interface LoadResult { concurrency: number; requests: number; errors: number; errorSamples: string[]; rps: number; p50: number; p90: number; p99: number; max: number }

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
const server = await startServer(sameServer ? { POISONLENS_MAX_MODELS: '8' } : {});
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
  for (let rep = 0; rep < reps; rep++) {
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
    const swaps: Array<Record<string, unknown>> = [];
    const loadRun = load({ url: server.url, paths, concurrency: 8, seconds: Math.max(4, seconds * 2), unique: true, uniqueStart: 9e8 });
    await new Promise((r) => setTimeout(r, 800));
    for (const to of [copies[0], model, copies[0]]) {
      const t = performance.now();
      const res = await fetch(`${server.url}/api/models/active`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ model: to }) });
      const body = (await res.json()) as Record<string, unknown>;
      swaps.push({ to, status: res.status, wallMs: Math.round(performance.now() - t), loadMs: body.loadMs, swapMs: body.swapMs, error: body.error });
      log(`hot swap to ${to}: ${res.status} in ${Math.round(performance.now() - t)} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const l = await loadRun.done;
    out.hotSwap = { swaps, underLoad: { concurrency: 8, requests: l.requests, errors: l.errors, errorSamples: l.errorSamples, p50Ms: l.p50, p99Ms: l.p99, maxMs: l.max } };
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
