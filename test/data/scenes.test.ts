import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { resolveWorkspace } from '../../core/workspace.js';
import { datasetRecord, imageCount, openCatalog } from '../../core/catalog.js';
import { generateScenes, defaultSplits, type ScenesOptions } from '../../data/scenes/generate.js';
import { CLASSES } from '../../data/scenes/catalogue.js';
import type { ManifestEntry } from '../../data/dataset.js';
import { checkCaption, type SceneMeta } from './scenes-check.js';

/**
 * The check, end to end: `data scenes --count 2000 --seed 7` twice gives identical
 * manifests and images (once on worker threads, once on the main thread), every class appears,
 * and every caption is true of its picture's meta. One generation is shared by the checks.
 */
const root = mkdtempSync(join(tmpdir(), 'pl-scenes-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
// the glyph atlas cache is content-addressed (package versions, SVGs, raster code), so it is
// safe to keep between test runs: only the first run on a machine rasterises
const cache = join(tmpdir(), 'poisonlens-scenes-test-cache');

function options(over: Partial<ScenesOptions> = {}): ScenesOptions {
  const count = over.count ?? 2000;
  return { name: 's', count, size: 64, seed: 7, ...defaultSplits(count), balance: 'uniform', workers: 1, force: false, quiet: true, ...over };
}

function workspace(name: string) {
  const ws = resolveWorkspace(join(root, name));
  // share the glyph atlas between the test workspaces: rasterising it is the slow part
  return { ...ws, cache };
}

function readManifest(dir: string): ManifestEntry[] {
  return readFileSync(join(dir, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ManifestEntry);
}

function hashImages(dir: string, entries: ManifestEntry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(readFileSync(join(dir, e.file)));
  return h.digest('hex');
}

const first = (async () => {
  const ws = workspace('a');
  const result = await generateScenes(ws, options({ workers: 1 }));
  return { ws, result, entries: readManifest(result.dir) };
})();

test('two runs with the same flags give byte-identical manifests and images (threads or not)', async () => {
  const a = await first;
  const b = await generateScenes(workspace('b'), options({ workers: 0 }));
  assert.equal(readFileSync(join(a.result.dir, 'manifest.jsonl'), 'utf8'), readFileSync(join(b.dir, 'manifest.jsonl'), 'utf8'));
  assert.equal(a.result.card.manifestSha256, b.card.manifestSha256);
  assert.equal(hashImages(a.result.dir, a.entries), hashImages(b.dir, a.entries));
});

test('every class appears; the test split is balanced; splits add up', async () => {
  const { entries, result } = await first;
  const { testPerClass, val } = defaultSplits(2000);
  assert.equal(entries.length, 2000);
  assert.deepEqual(result.card.counts, { test: testPerClass * 20, val, train: 2000 - testPerClass * 20 - val });
  for (const split of ['train', 'val', 'test'] as const) {
    const labels = new Set(entries.filter((e) => e.split === split).map((e) => e.label));
    assert.deepEqual([...labels].sort(), [...CLASSES], `every class is a label in ${split}`);
  }
  const perClass = new Map<string, number>();
  for (const e of entries) if (e.split === 'test') perClass.set(e.label!, (perClass.get(e.label!) ?? 0) + 1);
  for (const c of CLASSES) assert.equal(perClass.get(c), testPerClass, c);
  // uniform balance: train classes within one image of each other
  const train = new Map<string, number>();
  for (const e of entries) if (e.split === 'train') train.set(e.label!, (train.get(e.label!) ?? 0) + 1);
  assert.ok(Math.max(...train.values()) - Math.min(...train.values()) <= 1);
});

test('labels and meta agree: label is the largest object, labels are all classes present', async () => {
  const { entries } = await first;
  const backgroundsByLabel = new Map<string, Set<string>>();
  for (const e of entries) {
    const meta = e.meta as unknown as SceneMeta;
    assert.ok(meta.objects.length >= 1 && meta.objects.length <= 3);
    const area = (b: number[]) => (b[2] - b[0]) * (b[3] - b[1]);
    const main = meta.objects[0];
    assert.equal(e.label, main.class);
    for (const o of meta.objects.slice(1)) assert.ok(area(o.box) < area(main.box), `${e.id}: main object is the largest`);
    assert.deepEqual(e.labels, [...new Set(meta.objects.map((o) => o.class))].sort());
    for (const o of meta.objects) {
      assert.ok(o.box[0] >= 0 && o.box[1] >= 0 && o.box[2] <= 64 && o.box[3] <= 64, `${e.id}: box inside the picture`);
      assert.ok(Math.max(o.box[2] - o.box[0], o.box[3] - o.box[1]) >= 14, `${e.id}: objects stay big enough to see`);
    }
    assert.ok(Math.max(main.box[2] - main.box[0], main.box[3] - main.box[1]) >= 0.45 * 64, `${e.id}: the main object is large`);
    (backgroundsByLabel.get(e.label!) ?? backgroundsByLabel.set(e.label!, new Set()).get(e.label!)!).add(meta.background);
  }
  // backgrounds are no class cue: most classes show up on several, and sheep and aeroplanes share one
  for (const [cls, bgs] of backgroundsByLabel) if (cls !== 'train') assert.ok(bgs.size >= 2, `${cls} on ${[...bgs]}`);
  const shared = [...backgroundsByLabel.get('sheep')!].filter((b) => backgroundsByLabel.get('aeroplane')!.has(b));
  assert.ok(shared.length >= 1, 'sheep and aeroplane share a background');
});

test('five different captions per image, each true to the metadata', async () => {
  const { entries } = await first;
  const problems: string[] = [];
  for (const e of entries) {
    assert.equal(e.captions.length, 5);
    assert.equal(new Set(e.captions).size, 5, `${e.id}: captions differ`);
    for (const c of e.captions) for (const p of checkCaption(c, e.meta as unknown as SceneMeta)) problems.push(`${e.id} "${c}": ${p}`);
  }
  assert.deepEqual(problems.slice(0, 20), []);
});

test('dataset.json: licences, attribution, substitutions, caption ceiling; catalog registered', async () => {
  const { result, ws } = await first;
  const card = JSON.parse(readFileSync(join(result.dir, 'dataset.json'), 'utf8'));
  assert.equal(card.source, 'scenes');
  assert.equal(card.seed, 7);
  assert.deepEqual(card.classes, [...CLASSES]);
  const sets = Object.fromEntries(card.artSets.map((s: { id: string; licence: string }) => [s.id, s.licence]));
  assert.deepEqual(sets, { noto: 'Apache-2.0', 'fluent-emoji-flat': 'MIT', twemoji: 'CC-BY-4.0', 'poisonlens-drawn': 'MIT' });
  assert.ok(card.attribution.some((a: string) => /Twitter, Inc and other contributors/.test(a) && /CC-BY 4.0/.test(a)));
  assert.match(card.substitutions.sofa, /drawn in code/);
  assert.match(card.substitutions.diningtable, /drawn in code/);
  assert.ok(card.captionCeiling.textToImageR1 > 0.9 && card.captionCeiling.textToImageR1 <= 1);
  assert.equal(card.captionCeiling.captions, card.counts.test * 5);
  const db = openCatalog(ws.catalogPath);
  try {
    assert.equal(datasetRecord(db, 's')?.manifestSha256, card.manifestSha256);
    assert.equal(imageCount(db, 's'), 2000);
  } finally {
    db.close();
  }
  // nothing of the temp folder is left beside the dataset
  assert.deepEqual(readdirSync(join(ws.datasets)).filter((n) => n.startsWith('.')), []);
});

test('images are 64 px RGB PNGs', async () => {
  const { result, entries } = await first;
  for (const e of entries.slice(0, 20)) {
    const m = await sharp(join(result.dir, e.file)).metadata();
    assert.equal(m.format, 'png');
    assert.equal(m.width, 64);
    assert.equal(m.height, 64);
    assert.equal(m.channels, 3);
  }
});

test('96 and 128 px work, with true captions', async () => {
  for (const size of [96, 128]) {
    const r = await generateScenes(workspace(`size${size}`), options({ size, count: 60, testPerClass: 1, val: 10, workers: 0 }));
    const e = readManifest(r.dir)[0];
    const m = await sharp(join(r.dir, e.file)).metadata();
    assert.equal(m.width, size);
    for (const entry of readManifest(r.dir)) for (const c of entry.captions) assert.deepEqual(checkCaption(c, entry.meta as unknown as SceneMeta), [], c);
  }
});

test('an existing dataset is kept unless --force; nothing half-written is left', async () => {
  const ws = workspace('force');
  await generateScenes(ws, options({ count: 30, testPerClass: 1, val: 5, workers: 0 }));
  await assert.rejects(generateScenes(ws, options({ count: 30, testPerClass: 1, val: 5, workers: 0 })), /already exists.*--force/);
  const again = await generateScenes(ws, options({ count: 40, testPerClass: 1, val: 5, workers: 0, force: true }));
  assert.equal(again.card.counts.train, 15);
  assert.ok(existsSync(join(ws.datasets, 's', 'dataset.json')));
  assert.deepEqual(readdirSync(ws.datasets).filter((n) => n.startsWith('.')), []);
});
