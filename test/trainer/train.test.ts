/**
 * The trainer end to end through the CLI: a tiny generated dataset → `trainset` → `train`
 * (a tiny architecture, a few steps) → model package → both ONNX graphs loaded from Node with
 * onnxruntime-node and compared with the engine's own torch embeddings; fine-tuning `--from`
 * the package; a run killed with SIGKILL resumes from its last checkpoint; bad input fails
 * cleanly. Needs the Python venv (`poisonlens setup`); skipped without it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { main } from '../../cli/main.js';
import { modelRecord, openCatalog, trainsetRecord } from '../../core/catalog.js';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { DatasetWriter, loadDataset, type Split } from '../../data/dataset.js';
import { loadTrainset, writeTrainset } from '../../data/trainset.js';
import { readModelPackage } from '../../indexer/package.js';
import { VENV_PYTHON, REPO_ROOT } from '../../trainer/setup.js';
import { deviceDefaults, engineArgs } from '../../trainer/train.js';
import { engineCommand } from '../../trainer/engine.js';
import { descendantPids, waitGone } from '../helpers/procs.js';

const skip = existsSync(VENV_PYTHON) ? false : 'the Python venv (.venv) is missing: run `poisonlens setup`';
const TINY = ['--arch', 'pl-tiny-test', '--batch', '8', '--threads', '1'];
let dir: string;
let ws: Workspace;

const COLOURS: Array<[string, string]> = [['red', '#d22'], ['green', '#2b4'], ['blue', '#24d']];
const GROUNDS: Array<[string, string]> = [['white', '#eee'], ['black', '#111']];

async function buildDataset(): Promise<void> {
  const writer = new DatasetWriter(join(ws.datasets, 'tiny'));
  let i = 0;
  for (const [cname, colour] of COLOURS) {
    for (const [gname, ground] of GROUNDS) {
      for (const [pos, x] of [['left', 2], ['right', 18]] as const) {
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="${ground}"/><rect x="${x}" y="8" width="12" height="16" fill="${colour}"/></svg>`;
        const file = `images/${String(i).padStart(3, '0')}.png`;
        writeFileSync(writer.pathFor(file), await sharp(Buffer.from(svg)).png().toBuffer());
        const split: Split = i % 4 === 3 ? 'val' : 'train';
        await writer.add({
          id: `img${i}`, file, split, label: cname, labels: [cname],
          captions: [`a ${cname} box on the ${pos} of a ${gname} ground`, `${cname}, ${pos}, ${gname}`],
          meta: {},
        });
        i++;
      }
    }
  }
  await writer.finish({ name: 'tiny', source: 'test', params: {}, seed: 0, licence: 'MIT', attribution: [] });
}

/** Runs the CLI in-process; returns its exit code and what it wrote on stderr. */
async function cli(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['--workspace', dir, ...args]);
    return { code, stderr: err.join('\n'), stdout: out.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    process.stderr.write = write;
  }
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'pl-trainer-'));
  ws = resolveWorkspace(dir);
  await buildDataset();
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('trainset: one pair per caption of the split, hashed and registered', { skip }, async () => {
  const r = await cli('trainset', '--dataset', 'tiny', '--split', 'train', '--name', 'tiny-train');
  assert.equal(r.code, 0, r.stderr);
  const t = loadTrainset(ws, 'tiny-train');
  assert.equal(t.pairs.length, 9 * 2);
  assert.ok(t.pairs.every((p) => !p.poisoned && p.attack === null && p.image.startsWith('images/')));
  assert.equal(t.card.counts.images, 9);
  assert.equal(t.card.builder.name, 'clean');
  const db = openCatalog(ws.catalogPath);
  assert.equal(trainsetRecord(db, 'tiny-train')?.pairs, 18);
  db.close();
  const bad = await cli('trainset', '--dataset', 'tiny', '--split', 'test', '--name', 'empty');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /would be empty/);
  assert.ok(!existsSync(join(ws.trainsets, 'empty')));
});

test('train: the package loads in Node and onnxruntime-node matches the engine (≤ 1e-4)', { skip }, async () => {
  const ref = join(dir, 'reference.json');
  const r = await cli('train', '--trainset', 'tiny-train', '--steps', '4', '--name', 'base', '--reference-out', ref, ...TINY);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /export check/);
  const pkg = readModelPackage(join(ws.models, 'base'));
  assert.equal(pkg.card.kind, 'base');
  assert.equal(pkg.card.parent, null);
  const want = JSON.parse(readFileSync(ref, 'utf8')) as {
    pixelValues: { shape: number[]; data: number[] }; inputIds: number[][]; imageEmbeds: number[][]; textEmbeds: number[][];
  };
  const maxDiff = (got: Float32Array, rows: number[][]) => Math.max(...rows.flat().map((v, i) => Math.abs(v - got[i])));
  const img = await ort.InferenceSession.create(pkg.imageOnnx);
  const pixels = new ort.Tensor('float32', Float32Array.from(want.pixelValues.data), want.pixelValues.shape);
  const imgOut = (await img.run({ pixel_values: pixels })).image_embeds;
  assert.deepEqual(imgOut.dims, [want.imageEmbeds.length, pkg.card.embedDim]);
  assert.ok(maxDiff(imgOut.data as Float32Array, want.imageEmbeds) <= 1e-4);
  const txt = await ort.InferenceSession.create(pkg.textOnnx);
  const ids = new ort.Tensor('int64', BigInt64Array.from(want.inputIds.flat().map(BigInt)), [want.inputIds.length, want.inputIds[0].length]);
  const txtOut = (await txt.run({ input_ids: ids })).text_embeds;
  assert.equal(want.inputIds[0].length, pkg.card.text.contextLength);
  assert.ok(maxDiff(txtOut.data as Float32Array, want.textEmbeds) <= 1e-4);

  const m = await cli('models', '--json');
  const listed = JSON.parse(m.stdout) as { models: Array<{ id: string; kind: string; trainset: string; valR10: number | null }> };
  assert.deepEqual(listed.models.map((x) => [x.id, x.kind, x.trainset]), [['base', 'base', 'tiny-train']]);
  assert.equal(typeof listed.models[0].valR10, 'number');
  const db = openCatalog(ws.catalogPath);
  assert.equal(modelRecord(db, 'base')?.kind, 'base');
  db.close();
});

test('fine-tune --from the package: provenance is complete', { skip }, async () => {
  const r = await cli('train', '--trainset', 'tiny-train', '--from', 'base', '--steps', '2', '--name', 'ft', '--seed', '7', '--threads', '1', '--val-images', '0');
  assert.equal(r.code, 0, r.stderr);
  const c = readModelPackage(join(ws.models, 'ft')).card;
  const t = loadTrainset(ws, 'tiny-train');
  assert.equal(c.id, 'ft');
  assert.equal(c.kind, 'clean');
  assert.equal(c.parent, 'base');
  assert.equal(c.arch, 'pl-tiny-test');
  assert.deepEqual([c.trainset?.name, c.trainset?.sha256], ['tiny-train', t.card.pairsSha256]);
  assert.equal((c.dataset as { manifestSha256: string }).manifestSha256, t.card.dataset.manifestSha256);
  assert.equal(c.seed, 7);
  assert.equal(c.attack, null);
  const tr = c.trainer as { config: Record<string, unknown>; steps: number; epochs: number; wallSeconds: number };
  assert.equal(tr.steps, 2);
  assert.ok(tr.epochs > 0 && tr.wallSeconds > 0);
  assert.equal(tr.config.mode, 'finetune');
  assert.equal(tr.config.lr, 1e-5);
  assert.equal(tr.config.weightDecay, 0.2);
  assert.ok(Date.parse(c.createdAt) > 0);
  assert.equal(c.embedDim, readModelPackage(join(ws.models, 'base')).card.embedDim);
});

test('models reexport-text: a fixed text axis becomes free with the same embeddings; free ones are left alone', { skip }, async () => {
  const r = await cli('train', '--trainset', 'tiny-train', '--from', 'base', '--steps', '1', '--name', 'old-axis', '--threads', '1', '--val-images', '0');
  assert.equal(r.code, 0, r.stderr);
  const pkgDir = join(ws.models, 'old-axis');
  // As the engine exported text graphs before the free axis: the length fixed at the context.
  const fix = spawnSync(VENV_PYTHON, ['-c', [
    'import sys, torch',
    'from pathlib import Path',
    'from poisonlens_engine import export as X',
    'from poisonlens_engine.model import load_weights_file, model_from_checkpoint',
    'from poisonlens_engine.package import record_checksums',
    'p = Path(sys.argv[1]); m, _ = model_from_checkpoint(load_weights_file(p / "checkpoint.pt"))',
    'ids = torch.zeros(2, int(sys.argv[2]), dtype=torch.long); ids[:, 0], ids[:, 1], ids[:, 2] = 49406, 320, 49407',
    'X._export(X.TextTower(m.float().eval()), ids, p / X.TEXT_FILE, "input_ids", "text_embeds", seq=False); record_checksums(p)',
  ].join('\n'), pkgDir, String(readModelPackage(pkgDir).card.text.contextLength)], { cwd: join(REPO_ROOT, 'trainer', 'engine'), encoding: 'utf8' });
  assert.equal(fix.status, 0, fix.stderr);
  const ctx = readModelPackage(pkgDir).card.text.contextLength;
  const row = [49406, 320, 1125, 49407, ...Array(ctx - 4).fill(0)].map(BigInt);
  const embed = async (ids: bigint[]) => {
    const s = await ort.InferenceSession.create(join(pkgDir, 'text.onnx'));
    const out = (await s.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, ids.length]) })).text_embeds.data as Float32Array;
    return { out, free: typeof (s.inputMetadata[0] as { shape?: unknown[] }).shape?.[1] === 'string' };
  };
  const before = await embed(row);
  assert.equal(before.free, false);
  const imageBytes = readFileSync(join(pkgDir, 'image.onnx'));

  const bad = await cli('models', 'reexport-text', 'old-axis', 'no-such-model');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown model "no-such-model"/);
  assert.equal((await embed(row)).free, false, 'an unknown id fails before anything is written');

  const done = await cli('models', 'reexport-text', 'old-axis');
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^old-axis: text\.onnx re-exported \(largest embedding difference/);
  const after = await embed(row.slice(0, 4));
  assert.equal(after.free, true);
  assert.ok(Math.max(...after.out.map((v, i) => Math.abs(v - before.out[i]))) <= 1e-4, 'the same embedding without the padding');
  assert.ok(readFileSync(join(pkgDir, 'image.onnx')).equals(imageBytes), 'image.onnx untouched: indexes stay valid');
  const card = readModelPackage(pkgDir).card as { textReexport?: { from: string } };
  assert.ok(card.textReexport?.from);
  const db = openCatalog(ws.catalogPath);
  assert.ok((modelRecord(db, 'old-axis')?.card as { textReexport?: unknown }).textReexport, 'the catalog has the new card');
  db.close();

  const all = await cli('models', 'reexport-text', '--json');
  assert.equal(all.code, 0, all.stderr);
  const results = (JSON.parse(all.stdout) as { results: Array<{ id: string; state: string }> }).results;
  assert.ok(results.length >= 3 && results.every((x) => x.state === 'skipped'), JSON.stringify(results));
  rmSync(pkgDir, { recursive: true }); // the later tests count the packages
});

test('a run killed with SIGKILL resumes from its last checkpoint', { skip }, async () => {
  const args = ['bin/poisonlens.mjs', '--workspace', dir, 'train', '--trainset', 'tiny-train', '--steps', '30', '--name', 'killed',
    '--checkpoint-every', '1', '--val-images', '0', ...TINY];
  const ckpt = join(ws.root, 'runs', 'killed', 'checkpoint.pt');
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  for (let waited = 0; !existsSync(ckpt); waited += 50) {
    assert.ok(waited < 120_000, 'no checkpoint within 2 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  const engine = descendantPids(child.pid!); // the Python engine `train` started
  assert.ok(engine.length > 0, 'the engine runs under the CLI');
  child.kill('SIGKILL');
  await exited;
  await waitGone(engine, 'the engine, which dies with its parent');
  assert.ok(!existsSync(join(ws.models, 'killed')), 'no package from a killed run');
  const metrics = join(ws.root, 'runs', 'killed', 'metrics.jsonl');
  const ran = readFileSync(metrics, 'utf8').trim().split('\n').length;
  assert.ok(ran < 30, `killed mid-way (after ${ran} steps)`);

  const again = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  const m = /resuming from the checkpoint at step (\d+) of 30/.exec(again.stderr);
  assert.ok(m, again.stderr);
  assert.ok(Number(m[1]) >= 1);
  const lines = readFileSync(join(ws.models, 'killed', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
  assert.deepEqual(lines.filter((l) => l.type === 'step').map((l) => l.step), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.ok(!existsSync(join(ws.root, 'runs', 'killed')), 'the run folder goes once the package is written');
});

test('bad input fails with one line and writes nothing', { skip }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--trainset', 'nope', '--name', 'x'], /unknown training set "nope"/],
    [['--trainset', 'tiny-train', '--name', 'x', '--steps', '2', '--arch', 'no-such-arch'], /unknown architecture 'no-such-arch'/],
    [['--trainset', 'tiny-train', '--name', 'x', '--steps', '0'], /--steps must be ≥ 1/],
    [['--trainset', 'tiny-train', '--name', 'x', '--from', 'missing-model'], /unknown model "missing-model"/],
    [['--trainset', 'tiny-train', '--name', 'base', '--steps', '1'], /model base already exists/],
  ];
  const sha = loadDataset(ws, 'tiny').card.manifestSha256;
  await writeTrainset(ws, 'broken', [{ image: join(dir, 'gone.png'), caption: 'x', imageId: 'gone', poisoned: false, attack: null }], {
    dataset: { name: 'tiny', manifestSha256: sha, dir: join(ws.datasets, 'tiny') }, builder: { name: 'test', params: {} }, seed: null,
  });
  cases.push([['--trainset', 'broken', '--name', 'x', '--steps', '1', ...TINY], /missing image file .*gone\.png/]);
  // A training set built before its dataset was regenerated pairs old captions with new images.
  const t = loadTrainset(ws, 'tiny-train');
  await writeTrainset(ws, 'stale', t.pairs, { ...t.card, dataset: { ...t.card.dataset, manifestSha256: 'f'.repeat(64) } });
  cases.push([['--trainset', 'stale', '--name', 'x', '--steps', '1', ...TINY], /training set 'stale' is stale: dataset 'tiny' changed/]);
  for (const [args, message] of cases) {
    const r = await cli('train', ...args);
    assert.equal(r.code, 2, args.join(' '));
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('poisonlens:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], message);
  }
  assert.deepEqual(readdirSync(ws.models).sort(), ['base', 'ft', 'killed']);
  assert.ok(!existsSync(join(ws.root, 'runs', 'x')));
});

test('engine flags: --no-augment and the bf16 choice reach the engine only when asked for', () => {
  const root = mkdtempSync(join(tmpdir(), 'pl-args-'));
  try {
    const w = resolveWorkspace(root);
    mkdirSync(join(w.trainsets, 't'), { recursive: true });
    writeFileSync(join(w.trainsets, 't', 'trainset.json'), '{}');
    const plain = engineArgs(w, { trainset: 't', name: 'm' });
    assert.ok(!plain.includes('--no-augment') && !plain.includes('--bf16') && !plain.includes('--no-bf16'), plain.join(' '));
    const off = engineArgs(w, { trainset: 't', name: 'm', augment: false, bf16: false });
    assert.ok(off.includes('--no-augment') && off.includes('--no-bf16'), off.join(' '));
    assert.ok(!engineArgs(w, { trainset: 't', name: 'm', augment: true }).includes('--no-augment'));
    // mm_poison's text freeze reaches the engine by name (the engine's choices: tests/test_freeze.py).
    const blocks = engineArgs(w, { trainset: 't', name: 'm', freeze: 'text-blocks' });
    assert.deepEqual(blocks.slice(blocks.indexOf('--freeze'), blocks.indexOf('--freeze') + 2), ['--freeze', 'text-blocks']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('devices: --device/--precision reach the engine when asked for; POISONLENS_DEVICE/NPROC are the defaults; --nproc runs torchrun', () => {
  const root = mkdtempSync(join(tmpdir(), 'pl-args-'));
  const saved = { d: process.env.POISONLENS_DEVICE, n: process.env.POISONLENS_NPROC };
  try {
    const w = resolveWorkspace(root);
    mkdirSync(join(w.trainsets, 't'), { recursive: true });
    writeFileSync(join(w.trainsets, 't', 'trainset.json'), '{}');
    delete process.env.POISONLENS_DEVICE;
    delete process.env.POISONLENS_NPROC;
    const plain = engineArgs(w, { trainset: 't', name: 'm' });
    assert.ok(!plain.includes('--device') && !plain.includes('--precision') && !plain.includes('--local-loss'), plain.join(' '));
    const cuda = engineArgs(w, { trainset: 't', name: 'm', device: 'cuda', precision: 'fp16', localLoss: true, data: 'stream', workers: 4 });
    for (const [flag, v] of [['--device', 'cuda'], ['--precision', 'fp16'], ['--data', 'stream'], ['--workers', '4']]) assert.equal(cuda[cuda.indexOf(flag) + 1], v, flag);
    assert.ok(cuda.includes('--local-loss'));
    assert.throws(() => engineArgs(w, { trainset: 't', name: 'm', bf16: false, precision: 'bf16' }), /not both/);
    process.env.POISONLENS_DEVICE = 'cpu';
    process.env.POISONLENS_NPROC = '2';
    const env = engineArgs(w, { trainset: 't', name: 'm' });
    assert.equal(env[env.indexOf('--device') + 1], 'cpu');
    assert.deepEqual(deviceDefaults(), { device: 'cpu', nproc: 2 });
    process.env.POISONLENS_DEVICE = 'tpu';
    assert.throws(() => deviceDefaults(), /POISONLENS_DEVICE must be one of/);
    const one = engineCommand(['--x'], 1);
    assert.deepEqual(one.args, ['-m', 'poisonlens_engine.main', '--x']);
    const two = engineCommand(['--x'], 2);
    assert.deepEqual(two.args, ['-m', 'torch.distributed.run', '--standalone', '--nproc-per-node=2', '-m', 'poisonlens_engine.main', '--x']);
    assert.equal(two.command, VENV_PYTHON);
  } finally {
    if (saved.d === undefined) delete process.env.POISONLENS_DEVICE;
    else process.env.POISONLENS_DEVICE = saved.d;
    if (saved.n === undefined) delete process.env.POISONLENS_NPROC;
    else process.env.POISONLENS_NPROC = saved.n;
    rmSync(root, { recursive: true, force: true });
  }
});
