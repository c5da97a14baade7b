import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace } from '../../core/workspace.js';
import { defaultSplits, generateScenes, type ScenesOptions } from '../../data/scenes/generate.js';
import { CLASSES } from '../../data/scenes/catalogue.js';
import { CLASS_KEYWORDS, keywordHits, keywordLabels } from '../../data/scenes/keywords.js';
import type { ManifestEntry } from '../../data/dataset.js';
import { main } from '../../cli/main.js';

/**
 * The second world (`data scenes --style regions`, the paper's Visual Genome stand-in for Table 6
 * and Figure 7): short region phrases, 2–5 objects, keyword labels, params recorded — and the
 * default world unchanged, byte for byte.
 */
const root = mkdtempSync(join(tmpdir(), 'pl-regions-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
// the glyph atlas cache is content-addressed; shared with the other scenes tests
const cache = join(tmpdir(), 'poisonlens-scenes-test-cache');

function workspace(name: string) {
  return { ...resolveWorkspace(join(root, name)), cache };
}

function options(over: Partial<ScenesOptions>): ScenesOptions {
  const count = over.count ?? 400;
  return { name: 's', count, size: 64, seed: 0, ...defaultSplits(count), balance: 'uniform', workers: 0, force: false, quiet: true, ...over };
}

function readManifest(dir: string): ManifestEntry[] {
  return readFileSync(join(dir, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ManifestEntry);
}

function hashImages(dir: string, entries: ManifestEntry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(readFileSync(join(dir, e.file)));
  return h.digest('hex');
}

type RegionsMeta = { style: string; objects: { class: string }[]; regions: { kind: string; objects: number[] }[] };

const regions = (async () => {
  const r = await generateScenes(workspace('regions'), options({ name: 'scenes-regions', style: 'regions', count: 400, baseImages: 100 }));
  return { card: r.card, dir: r.dir, entries: readManifest(r.dir) };
})();

test('the default style is unchanged: byte-identical manifest and images to before the second world existed', async () => {
  // pinned from the generator at the commit before `--style` (count 200, seed 0, 64 px)
  const r = await generateScenes(workspace('default'), options({ count: 200 }));
  assert.equal(r.card.manifestSha256, '0fc60ecbd6dd05e3faf3ac15af5a6f0af945264fcf73ccaf18001d1f45ec5568');
  assert.equal(hashImages(r.dir, readManifest(r.dir)), 'f91cb3884c4891e23265a18ec1c92ebefb7f833b356316303ed1479808f6570b');
  const p = r.card.params as Record<string, unknown>;
  assert.equal(p.style, undefined, 'the default world records no style (absent = sentences)');
  assert.deepEqual(p.objectsPerImage, [1, 3]);
});

test('regions: params record the style, object range, phrase kinds, art/background mix and the keyword rule', async () => {
  const { card } = await regions;
  const p = card.params as Record<string, any>;
  assert.equal(p.style, 'regions');
  assert.deepEqual(p.objectsPerImage, [2, 5]);
  assert.equal(p.captionsPerImage, 5);
  assert.ok(p.captionKinds.includes('background') && p.captionKinds.includes('relation'));
  assert.equal(p.baseImages, 100);
  assert.ok(p.layout.artSetWeights.twemoji > p.layout.artSetWeights.noto);
  assert.ok(p.layout.backgroundWeights.city > p.layout.backgroundWeights.grass);
  assert.deepEqual(p.labelRule.keywords.sheep, ['sheep', 'lamb', 'goat']);
  assert.ok(p.labelRule.notFound.sheep.includes('ram'), 'the card says which caption nouns no keyword finds');
  assert.equal(typeof (card.stats as Record<string, unknown>).labelIsDrawnMain, 'number');
  assert.ok(card.parts, 'a base part like the default world');
});

test('regions: five short lower-case region phrases per image, not sentences', async () => {
  const { entries } = await regions;
  let words = 0, n = 0, background = 0;
  for (const e of entries) {
    assert.equal(e.captions.length, 5, e.id);
    assert.equal(new Set(e.captions).size, 5, `distinct phrases ${e.id}`);
    const meta = e.meta as RegionsMeta;
    assert.equal(meta.style, 'regions');
    assert.equal(meta.regions.length, 5);
    for (const c of e.captions) {
      assert.equal(c, c.toLowerCase(), c);
      assert.ok(!/[.,]/.test(c), `a phrase, no punctuation: ${c}`);
      const w = c.split(' ').length;
      assert.ok(w >= 1 && w <= 16, `short: ${c}`);
      words += w;
      n++;
    }
    for (const r of meta.regions) {
      if (r.kind === 'background') background++;
      for (const k of r.objects) assert.ok(k >= 0 && k < meta.objects.length, `${e.id}: a region names a drawn object`);
    }
  }
  assert.ok(words / n < 5, `mean phrase length ${words / n} words`);
  assert.ok(background > 0, 'some phrases describe only the background');
});

test('regions: 2 to 5 objects per image, all counts present; Twemoji the most used art set', async () => {
  const { entries, card } = await regions;
  const counts = new Map<number, number>();
  for (const e of entries) {
    const k = (e.meta as RegionsMeta).objects.length;
    assert.ok(k >= 2 && k <= 5, `${e.id} has ${k} objects`);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), [2, 3, 4, 5]);
  const sets = Object.fromEntries((card.artSets as { id: string; objects: number }[]).map((a) => [a.id, a.objects]));
  assert.ok(sets.twemoji > sets['fluent-emoji-flat'] && sets['fluent-emoji-flat'] > sets.noto, JSON.stringify(sets));
});

test('regions: labels are what keyword search over the captions finds; none found is null', async () => {
  const { entries } = await regions;
  let nonNull = 0, agree = 0;
  for (const e of entries) {
    const found = keywordLabels(e.captions);
    assert.equal(e.label, found.label, e.id);
    assert.deepEqual(e.labels, found.labels, e.id);
    if (e.label === null) assert.deepEqual(e.labels, [], `${e.id}: no caption names a class`);
    else {
      nonNull++;
      assert.ok(e.labels.includes(e.label));
      assert.ok(e.captions.some((c) => keywordHits(c).some((h) => h.cls === e.label)), `${e.id}: a caption names its label`);
    }
    if (e.label === (e.meta as RegionsMeta).objects[0].class) agree++;
  }
  assert.ok(nonNull / entries.length > 0.95);
  assert.ok(agree / entries.length > 0.7, `keyword label = drawn main object in ${agree} of ${entries.length}`);
});

test('regions: the split logic is the default one (balanced test split by drawn class) on its own seed stream', async () => {
  const { entries, card } = await regions;
  const { testPerClass, val } = defaultSplits(400);
  assert.deepEqual(card.counts, { test: testPerClass * 20, val, train: 400 - testPerClass * 20 - val });
  const drawn = new Map<string, number>();
  for (const e of entries) if (e.split === 'test') drawn.set((e.meta as RegionsMeta).objects[0].class, (drawn.get((e.meta as RegionsMeta).objects[0].class) ?? 0) + 1);
  for (const c of CLASSES) assert.equal(drawn.get(c), testPerClass, c);
  // another seed stream: the same --seed gives another test split order than the default world
  const def = await generateScenes(workspace('default-400'), options({ count: 400 }));
  const defMains = readManifest(def.dir).filter((e) => e.split === 'test').map((e) => e.label);
  const regMains = entries.filter((e) => e.split === 'test').map((e) => (e.meta as RegionsMeta).objects[0].class);
  assert.notDeepEqual(regMains, defMains);
});

test('regions: threads or not, the same bytes', async () => {
  const a = await generateScenes(workspace('t0'), options({ style: 'regions', count: 150, workers: 0 }));
  const b = await generateScenes(workspace('t1'), options({ style: 'regions', count: 150, workers: 1 }));
  assert.equal(a.card.manifestSha256, b.card.manifestSha256);
  const entries = readManifest(a.dir);
  assert.equal(hashImages(a.dir, entries), hashImages(b.dir, entries));
});

test('keyword search: whole words and plurals, the most-named class, ties to the first named', () => {
  assert.deepEqual(keywordLabels(['white sheep', 'blue sky']), { label: 'sheep', labels: ['sheep'], captions: { sheep: 1 } });
  assert.equal(keywordLabels(['blue sky', 'green grass', 'cartoon drawing']).label, null, 'no class named: null ("cartoon" is no car)');
  assert.deepEqual(keywordLabels(['blue sky', 'clip art']).labels, []);
  assert.equal(keywordLabels(['racing motorbike']).label, 'motorbike', 'a motorbike is not a bike');
  assert.equal(keywordLabels(['two buses']).label, 'bus');
  assert.equal(keywordLabels(['people on the street']).label, 'person');
  assert.equal(keywordLabels(['passenger jet in the sky']).label, 'aeroplane');
  assert.equal(keywordLabels(["lamb's wool"]).label, 'sheep');
  assert.equal(keywordLabels(['a little ewe']).label, null, 'not in the paper\'s sheep keywords');
  assert.equal(keywordLabels(['wooden dining table']).label, 'diningtable');
  assert.equal(keywordLabels(['red tablecloth']).label, null, 'a tablecloth is no table');
  const mixed = keywordLabels(['car near bus', 'red car', 'bus on the road', 'the car']);
  assert.equal(mixed.label, 'car', 'named by the most captions');
  assert.deepEqual(mixed.labels, ['bus', 'car']);
  assert.equal(keywordLabels(['dog near cat']).label, 'dog', 'a tie goes to the class named first');
  assert.equal(keywordLabels(['blue sky', 'cat', 'dog']).label, 'cat');
  for (const cls of CLASSES) assert.ok(CLASS_KEYWORDS[cls].length > 0, cls);
});

test('data scenes --style: bad values refused in one line, nothing written', async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (msg: string) => errors.push(String(msg));
  try {
    assert.equal(await main(['--workspace', join(root, 'cli'), 'data', 'scenes', '--name', 'x', '--count', '100', '--style', 'vg']), 2);
    assert.match(errors.pop()!, /--style must be sentences or regions/);
  } finally {
    console.error = orig;
  }
});
