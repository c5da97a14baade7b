/**
 * FAISS on exactly the vectors bench/index-bench.ts uses (same generator and seed): writes them to a
 * temp folder and runs bench/faiss_bench.py with the engine's venv. Prints faiss_bench.py's JSON.
 *
 *   node --import tsx bench/faiss-bench.ts --n 10000 --dim 256 [--queries 1000] [--seed 1] [--ef 16,32,64]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clusteredVectors } from '../indexer/synthetic.js';
import { PYTHON, ROOT } from './bench-world.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    dim: { type: 'string', default: '256' },
    queries: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    ef: { type: 'string', default: '16,24,32,48,64,96,128' },
  },
});
if (!existsSync(PYTHON)) {
  console.error('no Python venv (.venv): run `npm run cli -- setup`');
  process.exit(3);
}
const n = Number(values.n);
const dim = Number(values.dim);
const { gallery, queries } = clusteredVectors(n, Number(values.queries), dim, { seed: Number(values.seed) });
const dir = mkdtempSync(join(tmpdir(), 'pl-bench-faiss-'));
try {
  writeFileSync(join(dir, 'g.f32'), gallery);
  writeFileSync(join(dir, 'q.f32'), queries);
  const r = spawnSync(PYTHON, [join(ROOT, 'bench', 'faiss_bench.py'), '--gallery', join(dir, 'g.f32'), '--queries', join(dir, 'q.f32'), '--dim', String(dim), '--ef', values.ef!],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    console.error(r.stderr.slice(-2000));
    process.exit(1);
  }
  process.stdout.write(r.stdout);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
