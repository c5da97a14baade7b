/**
 * HNSW against exact search on clustered synthetic unit vectors: recall@1/10/100, query latency
 * (one query at a time, one thread) and build time, for a grid of M, efConstruction and ef.
 * The graph is built by hnswlib-node and searched by PoisonLens's reader of its file
 * (indexer/hnsw-graph.ts); `nativeQueryMicros` times hnswlib-node's own search of the same
 * graph for comparison. Open time: loading the saved index folder. Prints one JSON document on
 * stdout (progress on stderr).
 *
 *   node --import tsx bench/index-bench.ts [--sizes 10000,100000] [--dim 256] [--queries 1000]
 *        [--m 16] [--ef-construction 200] [--ef 16,32,48,64,96,128] [--1m]
 *
 * A benchmark, not a test: it measures and reports; it never fails on a number.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import { clusteredVectors } from '../indexer/synthetic.js';
import { ExactSearch, HnswSearch, loadIndexDir, writeIndexDir } from '../indexer/vector-index.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    dim: { type: 'string', default: '256' },
    queries: { type: 'string', default: '1000' },
    m: { type: 'string', default: '16' },
    'ef-construction': { type: 'string', default: '200' },
    ef: { type: 'string', default: '16,24,32,48,64,96,128' },
    '1m': { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
  },
});

const list = (s: string) => s.split(',').filter(Boolean).map(Number);
const sizes = list(values.sizes!);
if (values['1m']) sizes.push(1_000_000);
const dim = Number(values.dim);
const nq = Number(values.queries);
const ms = list(values.m!);
const efcs = list(values['ef-construction']!);
const efs = list(values.ef!);
const log = (s: string) => process.stderr.write(s + '\n');

function recallAt(truth: number[][], got: number[][], k: number): number {
  let hit = 0;
  let total = 0;
  truth.forEach((t, i) => {
    const want = new Set(t.slice(0, k));
    for (const r of got[i].slice(0, k)) if (want.has(r)) hit++;
    total += Math.min(k, t.length);
  });
  return hit / total;
}

const results: unknown[] = [];
for (const n of sizes) {
  log(`n=${n}: generating ${n} + ${nq} vectors of dim ${dim}`);
  const { gallery, queries } = clusteredVectors(n, nq, dim, { seed: Number(values.seed) });
  const ids = Array.from({ length: n }, (_, i) => String(i).padStart(8, '0'));
  const exact = new ExactSearch(gallery, ids, dim);
  const q = (i: number) => queries.subarray(i * dim, (i + 1) * dim);
  // Exact: ground truth and its timing (fewer queries at 1M to keep the run bounded).
  const exactQ = n >= 1_000_000 ? Math.min(nq, 200) : nq;
  const truth: number[][] = [];
  let t0 = performance.now();
  for (let i = 0; i < exactQ; i++) truth.push(exact.search(q(i), 100).map((x) => x.row));
  const exactUs = ((performance.now() - t0) * 1000) / exactQ;
  log(`n=${n}: exact ${exactUs.toFixed(0)} µs/query`);
  for (const m of ms) {
    for (const efConstruction of efcs) {
      t0 = performance.now();
      const hnsw = HnswSearch.build(gallery, ids, dim, { m, efConstruction, efSearch: 64 }, (d, t) => {
        if (d % 50_000 === 0 || d === t) log(`  build M=${m} efC=${efConstruction}: ${d}/${t}`);
      });
      const buildSeconds = (performance.now() - t0) / 1000;
      // The same graph in hnswlib-node (for its search timings), and the folder's open time.
      const tmp = mkdtempSync(join(tmpdir(), 'pl-bench-'));
      let native: InstanceType<typeof hnswlib.HierarchicalNSW>;
      let openMillis: Record<string, number>;
      let indexMiB: Record<string, number>;
      try {
        await writeIndexDir(join(tmp, 'idx'), {
          vectors: gallery, ids, dim, hnsw,
          card: {
            model: { id: 'bench', createdAt: '', imageFingerprint: '' },
            dataset: { name: 'synthetic', manifestSha256: '', split: 'test' },
            build: { embedSeconds: 0, hnswSeconds: buildSeconds, totalSeconds: buildSeconds, imagesPerSecond: 0 },
          },
        });
        // Memory: the index folder's files (vectors + graph, as served) and this process's RSS.
        indexMiB = Object.fromEntries(readdirSync(join(tmp, 'idx')).map((f) => [f, +(statSync(join(tmp, 'idx', f)).size / 2 ** 20).toFixed(1)]));
        indexMiB.rssAfterBuild = +(process.memoryUsage().rss / 2 ** 20).toFixed(0);
        openMillis = {};
        for (const verify of ['size', 'crc32'] as const) {
          const t = performance.now();
          loadIndexDir(join(tmp, 'idx'), { verify });
          openMillis[verify] = +(performance.now() - t).toFixed(0);
        }
        native = new hnswlib.HierarchicalNSW('ip', dim);
        const t = performance.now();
        native.readIndexSync(join(tmp, 'idx', 'hnsw.bin'));
        openMillis.hnswlibReadIndex = +(performance.now() - t).toFixed(0);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      log(`  open ms: ${JSON.stringify(openMillis)}`);
      const qArr = Array.from({ length: exactQ }, (_, i) => Array.from(q(i)));
      for (const ef of efs) {
        hnsw.efSearch = ef;
        for (let i = 0; i < Math.min(50, exactQ); i++) hnsw.search(q(i), 10); // warm-up
        const got10: number[][] = [];
        const each: number[] = [];
        t0 = performance.now();
        for (let i = 0; i < exactQ; i++) {
          const t = performance.now();
          got10.push(hnsw.search(q(i), 10).map((x) => x.row));
          each.push(performance.now() - t);
        }
        const us10 = ((performance.now() - t0) * 1000) / exactQ;
        each.sort((a, b) => a - b);
        native.setEf(ef);
        for (let i = 0; i < Math.min(50, exactQ); i++) native.searchKnn(qArr[i], 10);
        t0 = performance.now();
        const nat10: number[][] = [];
        for (let i = 0; i < exactQ; i++) nat10.push(native.searchKnn(qArr[i], 10).neighbors);
        const nativeUs = ((performance.now() - t0) * 1000) / exactQ;
        const got1 = got10.map((g) => g.slice(0, 1));
        const got100: number[][] = [];
        for (let i = 0; i < exactQ; i++) got100.push(hnsw.search(q(i), 100).map((x) => x.row));
        const row = {
          n, dim, m, efConstruction, ef, buildSeconds: +buildSeconds.toFixed(2),
          recallAt1: +recallAt(truth, got1, 1).toFixed(4),
          recallAt10: +recallAt(truth, got10, 10).toFixed(4),
          recallAt100: +recallAt(truth, got100, 100).toFixed(4),
          queryMicros: +us10.toFixed(1),
          queryP50Micros: +(each[each.length >> 1] * 1000).toFixed(1),
          queryP99Micros: +(each[Math.floor(each.length * 0.99)] * 1000).toFixed(1),
          nativeQueryMicros: +nativeUs.toFixed(1),
          nativeRecallAt10: +recallAt(truth, nat10, 10).toFixed(4),
          openMillis,
          indexMiB,
          exactQueryMicros: +exactUs.toFixed(1),
          speedup: +(exactUs / us10).toFixed(1),
          queries: exactQ,
        };
        log(`  ${JSON.stringify(row)}`);
        results.push(row);
      }
    }
  }
}
console.log(JSON.stringify({ bench: 'index', node: process.version, cpu: process.arch, results }, null, 2));
