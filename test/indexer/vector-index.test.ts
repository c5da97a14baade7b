import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import hnswlib from 'hnswlib-node';
import { clusteredVectors } from '../../indexer/synthetic.js';
import { RowScorer, simdDot, simdKernels, simdOptions } from '../../indexer/simd.js';
import { ExactSearch, HnswSearch, loadIndexDir, writeIndexDir, DEFAULT_HNSW } from '../../indexer/vector-index.js';

const DIM = 64;
const N = 3000;
const ids = Array.from({ length: N }, (_, i) => `img${String(i).padStart(5, '0')}`);
const { gallery, queries } = clusteredVectors(N, 200, DIM, { seed: 3 });
const q = (i: number) => queries.subarray(i * DIM, (i + 1) * DIM);

function bruteTop(query: Float32Array, k: number): number[] {
  const s = Array.from({ length: N }, (_, r) => {
    let d = 0;
    for (let j = 0; j < DIM; j++) d += gallery[r * DIM + j] * query[j];
    return { r, d };
  });
  return s.sort((a, b) => b.d - a.d || a.r - b.r).slice(0, k).map((x) => x.r);
}

test('exact search returns the true top k, best first, ties by row', () => {
  const exact = new ExactSearch(gallery, ids, DIM);
  for (let i = 0; i < 20; i++) {
    const got = exact.search(q(i), 10);
    assert.deepEqual(got.map((n) => n.row), bruteTop(q(i), 10));
    for (let j = 1; j < got.length; j++) assert.ok(got[j - 1].score >= got[j].score);
    assert.equal(got[0].id, ids[got[0].row]);
  }
  // Ties: duplicate rows rank by row index.
  const v = new Float32Array(4 * 2);
  v.set([1, 0, 0, 1, 1, 0, 1, 0]);
  const t = new ExactSearch(v, ['a', 'b', 'c', 'd'], 2);
  assert.deepEqual(t.search(new Float32Array([1, 0]), 4).map((n) => n.id), ['a', 'c', 'd', 'b']);
  assert.equal(t.search(new Float32Array([1, 0]), 100).length, 4, 'k above the size returns every row');
  assert.throws(() => t.search(new Float32Array([1, 0, 0]), 1), /3 dimensions, the index has 2/);
  assert.throws(() => t.search(new Float32Array([1, 0]), 0), /k must be a positive integer/);
});

test('HNSW recall@10 against exact search is ≥ 0.99 on clustered synthetic vectors', () => {
  const exact = new ExactSearch(gallery, ids, DIM);
  const hnsw = HnswSearch.build(gallery, ids, DIM, DEFAULT_HNSW);
  let hit = 0;
  for (let i = 0; i < 200; i++) {
    const want = new Set(exact.search(q(i), 10).map((n) => n.row));
    for (const n of hnsw.search(q(i), 10)) if (want.has(n.row)) hit++;
  }
  const recall = hit / 2000;
  assert.ok(recall >= 0.99, `recall@10 ${recall}`);
  // Scores are exact cosines of the returned rows.
  const top = hnsw.search(q(0), 5);
  const e = exact.scores(q(0));
  for (const n of top) assert.equal(n.score, e[n.row]);
  // k larger than ef still returns k results.
  hnsw.efSearch = 8;
  assert.equal(hnsw.search(q(1), 50).length, 50);
  assert.equal(hnsw.efSearch, 8);
});

test("the JavaScript graph search follows hnswlib-node's own search of the same graph", () => {
  const root = mkdtempSync(join(tmpdir(), 'pl-graph-'));
  try {
    const hnsw = HnswSearch.build(gallery, ids, DIM, { ...DEFAULT_HNSW, efSearch: 32 });
    hnsw.save(join(root, 'hnsw.bin'));
    const native = new hnswlib.HierarchicalNSW('ip', DIM);
    native.readIndexSync(join(root, 'hnsw.bin'));
    native.setEf(32);
    let same = 0;
    for (let i = 0; i < 200; i++) {
      const ours = hnsw.search(q(i), 10).map((n) => n.row);
      const theirs = native.searchKnn(Array.from(q(i)), 10).neighbors;
      const s = new Set(theirs);
      same += ours.filter((r) => s.has(r)).length;
    }
    // Same algorithm and graph; only float32 (hnswlib) vs double sums can reorder near-ties.
    assert.ok(same / 2000 >= 0.995, `overlap with hnswlib-node's results ${same / 2000}`);
    assert.equal(hnsw.graph.count, N);
    assert.deepEqual(Array.from(hnsw.exact().vector(7)), Array.from(gallery.subarray(7 * DIM, 8 * DIM)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the WebAssembly SIMD dot product and the scalar fallback rank alike', () => {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const dot = simdDot(memory);
  assert.ok(dot, 'Node 20 runs WebAssembly SIMD');
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < 2 * DIM; i++) f[i] = Math.sin(i);
  let want = 0;
  for (let j = 0; j < DIM; j++) want += f[j] * f[DIM + j];
  assert.ok(Math.abs(dot(0, DIM * 4, DIM) - want) < 1e-4);

  const simd = HnswSearch.build(gallery, ids, DIM, DEFAULT_HNSW);
  simdOptions.enabled = false;
  let scalar: HnswSearch;
  try {
    scalar = HnswSearch.build(gallery, ids, DIM, DEFAULT_HNSW);
  } finally {
    simdOptions.enabled = true;
  }
  let same = 0;
  for (let i = 0; i < 100; i++) {
    const a = new Set(simd.search(q(i), 10).map((n) => n.row));
    same += scalar.search(q(i), 10).filter((n) => a.has(n.row)).length;
  }
  assert.ok(same / 1000 >= 0.995, `overlap ${same / 1000}`);
});

test('the batched SIMD kernel scores every row of a batch as a plain loop does, at any count and dimension', () => {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const kernels = simdKernels(memory);
  assert.ok(kernels, 'Node 20 runs WebAssembly SIMD');
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.37);
  const IDS_AT = 200_000;
  const OUT_AT = 210_000;
  const BASE = 8_192; // bytes: the rows start here, `stride` bytes apart (not a multiple of 16)
  // Dimensions off the 16-float step, and counts off the 4-row group (both have tails).
  for (const dim of [4, 12, 64, 260]) {
    const stride = dim * 4 + 12;
    for (const count of [0, 1, 3, 4, 5, 9]) {
      const rows = new Int32Array(memory.buffer, IDS_AT, count);
      for (let i = 0; i < count; i++) rows[i] = (i * 7919) % 40;
      kernels.dots(0, IDS_AT, count, OUT_AT, BASE, stride, dim);
      const out = new Float32Array(memory.buffer, OUT_AT, count);
      for (let i = 0; i < count; i++) {
        const start = (BASE + rows[i] * stride) / 4;
        let want = 0;
        for (let j = 0; j < dim; j++) want += f[j] * f[start + j];
        assert.ok(Math.abs(out[i] - want) < 1e-4, `dim ${dim}, count ${count}, row ${i}: ${out[i]} vs ${want}`);
        assert.ok(Math.abs(kernels.dot(0, BASE + rows[i] * stride, dim) - want) < 1e-4);
      }
    }
  }
});

test('RowScorer: every row scored against a query, and chosen rows or ranges bit-equal to their full scores', () => {
  const dim = 12;
  const rows = Array.from({ length: 11 }, (_, i) => Float32Array.from({ length: dim }, (_, j) => Math.cos(i * 1.3 + j * 0.7)));
  rows[9] = rows[2]; // equal rows, in a whole group and in the padded tail
  const scorer = RowScorer.create(rows, dim, 5)!;
  assert.ok(scorer);
  const q = Float32Array.from({ length: dim }, (_, j) => Math.sin(j + 0.5));
  const all = Float32Array.from(scorer.scoreAll(q));
  assert.equal(all.length, 11);
  rows.forEach((r, i) => assert.ok(Math.abs(all[i] - r.reduce((s, x, j) => s + x * q[j], 0)) < 1e-5, `row ${i}`));
  assert.equal(all[9], all[2]);
  const picked = [9, 0, 2];
  assert.deepEqual(Array.from(scorer.scoreSome(q, picked)), picked.map((i) => all[i]));
  assert.throws(() => scorer.scoreSome(q, [0, 1, 2, 3, 4, 5, 6, 7, 8]), /at most 8/);
  assert.deepEqual(Array.from(scorer.scoreRange(q, 4, 7)), Array.from(all.subarray(4, 11)));
  assert.deepEqual(Array.from(scorer.scoreRange(q, 8, 2)), Array.from(all.subarray(8, 10)));
  assert.throws(() => scorer.scoreRange(q, 1, 2), /multiple of 4/);
  assert.throws(() => scorer.scoreRange(q, 8, 4), /of 11/);
  assert.equal(RowScorer.create(rows.map((r) => r.subarray(0, 10)), 10), null, 'dimension not a multiple of 4');
});

test('index folder: save, load with checksums, and corrupt or truncated files are refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pl-idx-'));
  try {
    const dir = join(root, 'indexes', 'm', 'd', 'test');
    const hnsw = HnswSearch.build(gallery, ids, DIM, { ...DEFAULT_HNSW, efSearch: 40 });
    const card = await writeIndexDir(dir, {
      vectors: gallery, ids, dim: DIM, hnsw,
      card: {
        model: { id: 'm', createdAt: 'then', imageFingerprint: 'fp' },
        dataset: { name: 'd', manifestSha256: 'abc', split: 'test' },
        build: { embedSeconds: 1, hnswSeconds: 1, totalSeconds: 2, imagesPerSecond: 3 },
      },
    });
    assert.deepEqual(readdirSync(dirname(dir)), ['test'], 'no temp folders left behind');
    assert.equal(card.count, N);
    assert.equal(card.files['vectors.f32'].bytes, N * DIM * 4);
    const loaded = loadIndexDir(dir);
    assert.deepEqual(loaded.vectors, gallery);
    assert.deepEqual(loaded.ids, ids);
    assert.equal(loaded.hnsw.efSearch, 40);
    assert.deepEqual(loaded.hnsw.search(q(3), 10).map((n) => n.row), hnsw.search(q(3), 10).map((n) => n.row));
    assert.equal(loaded.rowOf.get(ids[17]), 17);
    // vectors.f32 is plain little-endian float32.
    const raw = readFileSync(join(dir, 'vectors.f32'));
    assert.equal(raw.readFloatLE(4 * 5), gallery[5]);

    const copy = (name: string) => readFileSync(join(dir, name));
    const restore = (name: string, data: Buffer) => writeFileSync(join(dir, name), data);
    // Truncated vectors.
    const v = copy('vectors.f32');
    truncateSync(join(dir, 'vectors.f32'), v.byteLength - 100);
    assert.throws(() => loadIndexDir(dir), /corrupt index .*vectors\.f32 has \d+ bytes, index\.json says \d+ \(truncated/);
    restore('vectors.f32', v);
    // A flipped byte in the graph: sizes match, the CRC does not.
    const h = copy('hnsw.bin');
    const bad = Buffer.from(h);
    bad[bad.length >> 1] ^= 0xff;
    restore('hnsw.bin', bad);
    assert.throws(() => loadIndexDir(dir), /hnsw\.bin fails its CRC-32 check/);
    assert.throws(() => loadIndexDir(dir, { verify: 'sha256' }), /hnsw\.bin fails its SHA-256 check/);
    restore('hnsw.bin', h);
    // Truncated graph with a forged size: the graph reader fails with a clear message.
    const cardJson = JSON.parse(copy('index.json').toString());
    truncateSync(join(dir, 'hnsw.bin'), 1000);
    cardJson.files['hnsw.bin'].bytes = 1000;
    writeFileSync(join(dir, 'index.json'), JSON.stringify(cardJson));
    assert.throws(() => loadIndexDir(dir, { verify: 'size' }), /corrupt index/);
    restore('hnsw.bin', h);
    cardJson.files['hnsw.bin'].bytes = h.byteLength;
    writeFileSync(join(dir, 'index.json'), JSON.stringify(cardJson));
    // ids.json edited.
    const idsBuf = copy('ids.json');
    restore('ids.json', Buffer.from(idsBuf.toString().replace('img00001', 'img00009')));
    assert.throws(() => loadIndexDir(dir), /ids\.json fails its CRC-32 check/);
    restore('ids.json', idsBuf);
    // Missing file, broken index.json.
    rmSync(join(dir, 'hnsw.bin'));
    assert.throws(() => loadIndexDir(dir), /hnsw\.bin is missing/);
    restore('hnsw.bin', h);
    writeFileSync(join(dir, 'index.json'), '{"format": "poisonlens-index/1", "count": ');
    assert.throws(() => loadIndexDir(dir), /index\.json is not valid JSON/);
    assert.throws(() => loadIndexDir(join(root, 'nope')), /no index at/);
    assert.ok(existsSync(join(dir, 'vectors.f32')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
