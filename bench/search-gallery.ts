/**
 * A large gallery for the search server without encoding 100,000 images: a dataset whose
 * manifest repeats the scenes images under new ids (the image files are one link to the scenes
 * images), and an index over it for the bench model whose vectors are synthetic clustered unit
 * vectors (indexer/synthetic.ts) instead of image embeddings. The index card matches the model
 * and the manifest exactly as `poisonlens index` writes it, so the server serves it as it would
 * a real one: latency and memory are those of a gallery of that size; the results mean nothing.
 *
 *   node --import tsx bench/search-gallery.ts --workspace WS --model M [--source scenes] [--n 100000]
 *
 * Built once and reused (it takes a minute or two: the HNSW graph). Prints the dataset name.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveWorkspace } from '../core/workspace.js';
import { writeCopyDataset } from './copy-dataset.js';
import { loadModelPackage, imageFingerprint } from '../indexer/package.js';
import { clusteredVectors } from '../indexer/synthetic.js';
import { DEFAULT_HNSW, HnswSearch, writeIndexDir } from '../indexer/vector-index.js';
import { log } from './stats.js';

const { values } = parseArgs({
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    source: { type: 'string', default: 'scenes' },
    n: { type: 'string', default: '100000' },
  },
});
const ws = resolveWorkspace(values.workspace);
const n = Number(values.n);
const name = `bench-gallery-${n}`;
const pkg = loadModelPackage(ws, values.model!);
const dir = await writeCopyDataset(ws, {
  name, source: values.source!, n, params: {},
  entryAt: (i, entries) => {
    const e = entries[i % entries.length];
    return { ...e, id: `g${String(i).padStart(7, '0')}`, split: 'test', meta: { copyOf: e.id } };
  },
});
const card = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
const idxDir = join(ws.indexes, pkg.id, name, 'test');
const fingerprint = await imageFingerprint(pkg);
let ok = false;
try {
  const c = JSON.parse(readFileSync(join(idxDir, 'index.json'), 'utf8'));
  ok = c.model.id === pkg.id && c.model.imageFingerprint === fingerprint && c.dataset.manifestSha256 === card.manifestSha256;
} catch {
  /* none yet */
}
/** Another model's index of this gallery with the same dimension: its files are reusable as is. */
function donor(): string | null {
  if (!existsSync(ws.indexes)) return null;
  for (const m of readdirSync(ws.indexes)) {
    const d = join(ws.indexes, m, name, 'test');
    try {
      const c = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
      if (m !== pkg.id && c.dim === pkg.card.embedDim && c.dataset.manifestSha256 === card.manifestSha256) return d;
    } catch {
      /* not there */
    }
  }
  return null;
}
const from = ok ? null : donor();
if (from) {
  log(`gallery: reusing the synthetic index of ${from} for ${pkg.id}`);
  rmSync(idxDir, { recursive: true, force: true });
  mkdirSync(idxDir, { recursive: true });
  for (const f of readdirSync(from)) if (f !== 'index.json') cpSync(join(from, f), join(idxDir, f));
  const c = JSON.parse(readFileSync(join(from, 'index.json'), 'utf8'));
  c.model = { id: pkg.id, createdAt: pkg.card.createdAt, imageFingerprint: fingerprint };
  writeFileSync(join(idxDir, 'index.json'), JSON.stringify(c, null, 2));
} else if (!ok) {
  const dim = pkg.card.embedDim;
  log(`gallery: building a synthetic HNSW index of ${n} × ${dim} for ${pkg.id}`);
  const { gallery } = clusteredVectors(n, 0, dim, { seed: 7 });
  const ids = Array.from({ length: n }, (_, i) => `g${String(i).padStart(7, '0')}`);
  const t = performance.now();
  const hnsw = HnswSearch.build(gallery, ids, dim, DEFAULT_HNSW, (d, total) => {
    if (d % 25_000 === 0 || d === total) log(`  ${d}/${total}`);
  });
  const s = (performance.now() - t) / 1000;
  await writeIndexDir(idxDir, {
    vectors: gallery, ids, dim, hnsw,
    card: {
      model: { id: pkg.id, createdAt: pkg.card.createdAt, imageFingerprint: fingerprint },
      dataset: { name, manifestSha256: card.manifestSha256, split: 'test' },
      build: { embedSeconds: 0, hnswSeconds: s, totalSeconds: s, imagesPerSecond: 0, synthetic: true },
    },
  });
}
console.log(name);
