/**
 * PoisonLens's HNSW search against FAISS's, measured fairly (issue 23): the same clustered unit
 * vectors and queries (indexer/synthetic.ts), the same graph parameters (M 16, efConstruction
 * 200), each at the lowest ef that reaches the same recall@10 (≥ 0.99 by default) on the same
 * queries, timed in alternating rounds inside this one section (round r: PoisonLens then FAISS
 * when r is even, FAISS then PoisonLens when odd), one query at a time on one thread each. FAISS
 * runs in a Python process that keeps its index (bench/faiss_rounds.py) and is idle while
 * PoisonLens is timed, and the other way round; one unrecorded round warms both up. The ratio (PoisonLens µs / FAISS µs) is reported
 * per round, with its median and spread, so a drifting host moves both sides alike.
 *
 *   node --import tsx bench/hnsw-faiss-bench.ts --sizes 10000,100000 --dims 256,512 [--queries 1000]
 *        [--rounds 7] [--ef 16,24,32,48,64,96,128,192] [--recall 0.99]
 *
 * Prints one JSON document. A benchmark: it never fails on a number.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { clusteredVectors } from '../indexer/synthetic.js';
import { ExactSearch, HnswSearch } from '../indexer/vector-index.js';
import { log, spread } from './stats.js';
import { PYTHON, ROOT } from './bench-world.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000' },
    dims: { type: 'string', default: '256' },
    queries: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '7' },
    ef: { type: 'string', default: '16,24,32,48,64,96,128,192' },
    recall: { type: 'string', default: '0.99' },
    seed: { type: 'string', default: '1' },
  },
});
if (!existsSync(PYTHON)) {
  console.error('no Python venv (.venv): run `npm run cli -- setup`');
  process.exit(3);
}
const list = (s: string) => s.split(',').filter(Boolean).map(Number);
const nq = Number(values.queries);
const rounds = Number(values.rounds);
const efs = list(values.ef!);
const want = Number(values.recall);

/** The Python peer: one JSON line per command. */
class FaissPeer {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly proc: ReturnType<typeof spawn>) {
    this.lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  }
  static async start(gallery: string, queries: string, dim: number): Promise<{ peer: FaissPeer; info: Record<string, unknown> }> {
    const proc = spawn(PYTHON, [join(ROOT, 'bench', 'faiss_rounds.py'), '--gallery', gallery, '--queries', queries, '--dim', String(dim)], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    const peer = new FaissPeer(proc);
    return { peer, info: await peer.read() };
  }
  private async read(): Promise<Record<string, unknown>> {
    const r = await this.lines.next();
    if (r.done) throw new Error('faiss_rounds.py ended early');
    return JSON.parse(r.value) as Record<string, unknown>;
  }
  async ask(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
    const out = await this.read();
    if (out.error) throw new Error(String(out.error));
    return out;
  }
  async quit(): Promise<void> {
    this.proc.stdin!.end(JSON.stringify({ op: 'quit' }) + '\n');
    await new Promise((r) => this.proc.once('exit', r));
  }
}

const results: unknown[] = [];
for (const dim of list(values.dims!)) {
  for (const n of list(values.sizes!)) {
    log(`n=${n} d=${dim}: ${n} + ${nq} vectors`);
    const { gallery, queries } = clusteredVectors(n, nq, dim, { seed: Number(values.seed) });
    const q = (i: number) => queries.subarray(i * dim, (i + 1) * dim);
    const ids = Array.from({ length: n }, (_, i) => String(i).padStart(8, '0'));
    const exact = new ExactSearch(gallery, ids, dim);
    const truth: Array<Set<number>> = [];
    for (let i = 0; i < nq; i++) truth.push(new Set(exact.search(q(i), 10).map((x) => x.row)));
    const dir = mkdtempSync(join(tmpdir(), 'pl-bench-hf-'));
    let peer: FaissPeer | null = null;
    try {
      writeFileSync(join(dir, 'g.f32'), gallery);
      writeFileSync(join(dir, 'q.f32'), queries);
      // Both graphs built before any timing (FAISS's in its process meanwhile).
      const started = FaissPeer.start(join(dir, 'g.f32'), join(dir, 'q.f32'), dim);
      const t0 = performance.now();
      const hnsw = HnswSearch.build(gallery, ids, dim, { m: 16, efConstruction: 200, efSearch: 64 });
      const ourBuild = (performance.now() - t0) / 1000;
      const { peer: p, info } = await started;
      peer = p;
      // Equal recall: each side's lowest ef that reaches `want` on these queries.
      const ourRecall = (ef: number) => {
        hnsw.efSearch = ef;
        let hit = 0;
        for (let i = 0; i < nq; i++) for (const x of hnsw.search(q(i), 10)) if (truth[i].has(x.row)) hit++;
        return hit / (nq * 10);
      };
      const pick = async (recallAt: (ef: number) => Promise<number> | number) => {
        const tried: Array<{ ef: number; recallAt10: number }> = [];
        for (const ef of efs) {
          const r = await recallAt(ef);
          tried.push({ ef, recallAt10: +r.toFixed(4) });
          if (r >= want) break;
        }
        return { chosen: tried.at(-1)!, tried };
      };
      const ours = await pick(ourRecall);
      const theirs = await pick(async (ef) => Number((await peer!.ask({ op: 'recall', ef })).recallAt10));
      log(`  ef: PoisonLens ${ours.chosen.ef} (recall@10 ${ours.chosen.recallAt10}), FAISS ${theirs.chosen.ef} (${theirs.chosen.recallAt10})`);
      hnsw.efSearch = ours.chosen.ef;
      const timeOurs = () => {
        for (let i = 0; i < Math.min(50, nq); i++) hnsw.search(q(i), 10);
        const t = performance.now();
        for (let i = 0; i < nq; i++) hnsw.search(q(i), 10);
        return ((performance.now() - t) * 1000) / nq;
      };
      const timeTheirs = async () => Number((await peer!.ask({ op: 'time', ef: theirs.chosen.ef, queries: nq, warmup: 50 })).queryMicros);
      // One unrecorded round first: JIT, caches and page faults of both sides settle.
      timeOurs();
      await timeTheirs();
      const rows: Array<{ round: number; first: string; oursMicros: number; faissMicros: number; ratio: number }> = [];
      for (let r = 0; r < rounds; r++) {
        let o: number;
        let f: number;
        if (r % 2 === 0) {
          o = timeOurs();
          f = await timeTheirs();
        } else {
          f = await timeTheirs();
          o = timeOurs();
        }
        rows.push({ round: r, first: r % 2 === 0 ? 'PoisonLens' : 'FAISS', oursMicros: +o.toFixed(1), faissMicros: +f.toFixed(1), ratio: +(o / f).toFixed(3) });
        log(`  round ${r + 1}: PoisonLens ${o.toFixed(1)} µs, FAISS ${f.toFixed(1)} µs, ratio ${(o / f).toFixed(2)}`);
      }
      results.push({
        n, dim, m: 16, efConstruction: 200, queries: nq, targetRecallAt10: want,
        poisonlens: { ef: ours.chosen.ef, recallAt10: ours.chosen.recallAt10, buildSeconds: +ourBuild.toFixed(2), queryMicros: spread(rows.map((x) => x.oursMicros)), efTried: ours.tried },
        faiss: { ef: theirs.chosen.ef, recallAt10: theirs.chosen.recallAt10, buildSeconds: info.buildSeconds, version: info.faiss, queryMicros: spread(rows.map((x) => x.faissMicros)), efTried: theirs.tried },
        ratio: spread(rows.map((x) => x.ratio)),
        rounds: rows,
      });
    } finally {
      await peer?.quit().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
console.log(JSON.stringify({ bench: 'hnsw-faiss', node: process.version, results }, null, 2));
