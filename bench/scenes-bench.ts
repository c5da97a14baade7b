/**
 * Scenes generator speed: images per second of the whole `data scenes` pipeline (plan, captions,
 * render, PNG, manifest, catalog) at 64 and 128 px, median of a few runs, each into a fresh
 * temp workspace that shares one glyph-atlas cache (built by a warm-up run, as a second
 * `data scenes` on a machine would find it). Prints one JSON document on stdout.
 *
 *   node --import tsx bench/scenes-bench.ts [--sizes 64,128] [--count 10000] [--runs 3] [--workers W]
 *
 * 10,000 images per run by default: with fewer, start-up (loading the TypeScript in the worker,
 * the atlas, the catalog) weighs on the rate more than it does on a real dataset.
 *
 * A benchmark, not a test: it measures and reports; it never fails on a number. On a shared
 * machine wall-clock rates depend on the neighbours, so the load average and images per
 * CPU-second (all threads of this process) are reported beside them.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace } from '../core/workspace.js';
import { defaultSplits, defaultWorkers, generateScenes } from '../data/scenes/generate.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64,128' },
    count: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    workers: { type: 'string' },
  },
});
const sizes = values.sizes!.split(',').map(Number);
const count = Number(values.count);
const runs = Number(values.runs);
const workers = values.workers !== undefined ? Number(values.workers) : defaultWorkers(count);
const log = (s: string) => process.stderr.write(s + '\n');

const root = mkdtempSync(join(tmpdir(), 'pl-bench-scenes-'));
const cache = join(root, 'cache');
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall-clock images/s, and images per CPU-second of this process (all its threads). */
async function once(size: number, run: number, n: number): Promise<{ wall: number; cpu: number }> {
  const ws = { ...resolveWorkspace(join(root, `s${size}-${run}`)), cache };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await generateScenes(ws, { name: 'bench', count: n, size, seed: run, ...defaultSplits(n), balance: 'uniform', workers, force: true, quiet: true });
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  rmSync(ws.root, { recursive: true, force: true });
  return { wall: n / seconds, cpu: n / ((c.user + c.system) / 1e6) };
}

try {
  const results = [];
  for (const size of sizes) {
    log(`scenes ${size} px: warm-up (builds the glyph atlas)`);
    await once(size, 99, 200);
    const rates: number[] = [];
    const perCpu: number[] = [];
    for (let r = 0; r < runs; r++) {
      const { wall, cpu } = await once(size, r, count);
      rates.push(wall);
      perCpu.push(cpu);
      log(`scenes ${size} px run ${r + 1}/${runs}: ${wall.toFixed(0)} images/s (${cpu.toFixed(0)} per CPU-second)`);
    }
    results.push({
      size,
      count,
      runs: rates.map((x) => Math.round(x)),
      imagesPerSecond: Math.round(median(rates)),
      // what the machine's cores could give if nobody else used them
      imagesPerCpuSecond: Math.round(median(perCpu)),
    });
  }
  console.log(
    JSON.stringify(
      { bench: 'scenes', workers, cpus: availableParallelism(), loadAverage1m: Math.round(loadavg()[0] * 100) / 100, node: process.version, results },
      null,
      2,
    ),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
