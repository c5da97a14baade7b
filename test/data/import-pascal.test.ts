import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { importDataset } from '../../data/importers/importers.js';
import { vocClass } from '../../data/importers/pascal.js';
import { assertNothingWritten, byId, checkRoundTrip, FIVE, sandbox, writeGarbage, writeImage, writeText, type Sandbox } from './import-fixtures.js';

/**
 * PASCAL sentences layout: aeroplane has 4 good images, diningtable 2, tvmonitor 2 plus every
 * kind of bad input (missing sentence file, sentence without image, unreadable image, blank
 * sentence file, an id repeated in another class).
 */
async function pascalFixture(s: Sandbox): Promise<void> {
  const add = async (folder: string, name: string, captions = FIVE(name)) => {
    await writeImage(join(s.src, 'dataset', folder, `${name}.jpg`));
    writeText(join(s.src, 'sentence', folder, `${name}.txt`), captions);
  };
  for (const n of ['2008_000001', '2008_000002', '2008_000003', '2008_000004']) await add('aeroplane', n);
  for (const n of ['2008_000010', '2008_000011']) await add('diningtable', n);
  for (const n of ['2008_000020', '2008_000021']) await add('tvmonitor', n);
  // Bad inputs.
  await writeImage(join(s.src, 'dataset', 'aeroplane', '2008_000005.jpg')); // no sentence file
  writeText(join(s.src, 'sentence', 'aeroplane', '2008_000006.txt'), FIVE('gone')); // no image
  writeGarbage(join(s.src, 'dataset', 'tvmonitor', '2008_000022.jpg'));
  writeText(join(s.src, 'sentence', 'tvmonitor', '2008_000022.txt'), FIVE('garbage'));
  await add('tvmonitor', '2008_000023', '\n   \n\n'); // only blank lines
  await add('tvmonitor', '2008_000001'); // same id as an aeroplane image
}

test('pascal: round trip of ids, files, captions, labels and the per-class half split', async () => {
  const s = sandbox('pascal');
  try {
    await pascalFixture(s);
    const result = await importDataset(s.ws, 'pascal', { src: s.src, seed: 3 }, { name: 'p', quiet: true });
    const d = checkRoundTrip(s.ws, 'p');
    const e = byId(d.entries);
    assert.deepEqual([...e.keys()].sort(), ['2008_000001', '2008_000002', '2008_000003', '2008_000004', '2008_000010', '2008_000011', '2008_000020', '2008_000021']);
    const a = e.get('2008_000002')!;
    assert.equal(a.file, 'images/aeroplane/2008_000002.jpg');
    assert.equal(a.label, 'aeroplane');
    assert.deepEqual(a.labels, ['aeroplane']);
    assert.deepEqual(a.captions, [1, 2, 3, 4, 5].map((i) => `A 2008_000002 picture, sentence ${i}.`));
    assert.deepEqual(a.meta, { source: 'dataset/aeroplane/2008_000002.jpg', width: 8, height: 6 });
    // The first occurrence of a repeated id wins (aeroplane comes before tvmonitor).
    assert.equal(e.get('2008_000001')!.label, 'aeroplane');
    // Half test, half train per class; no val.
    for (const [label, n] of [['aeroplane', 4], ['diningtable', 2], ['tvmonitor', 2]] as const) {
      const mine = d.entries.filter((x) => x.label === label);
      assert.equal(mine.length, n);
      assert.equal(mine.filter((x) => x.split === 'test').length, n / 2, label);
      assert.equal(mine.filter((x) => x.split === 'train').length, n / 2, label);
    }
    assert.deepEqual(d.card.classes, ['aeroplane', 'diningtable', 'tvmonitor']);
    assert.deepEqual(d.card.counts, { train: 4, val: 0, test: 4 });
    assert.equal(d.card.seed, 3);
    assert.equal(d.card.source, 'pascal');
    assert.equal(d.card.params.src, s.src);
    // Every bad input is reported with its reason and an example.
    const skipped = result.skipped.toJSON();
    assert.deepEqual(Object.fromEntries(Object.entries(skipped).map(([k, v]) => [k, v.count])), {
      'missing caption file': 1,
      'missing image file': 1,
      'unreadable image': 1,
      'empty captions': 1,
      'duplicate id': 1,
    });
    assert.deepEqual(skipped['missing caption file'].examples, ['sentence/aeroplane/2008_000005.txt']);
    assert.match(skipped['unreadable image'].examples[0], /2008_000022\.jpg/);
    assert.deepEqual(d.card.skipped, skipped, 'dataset.json records the skips');
  } finally {
    s.cleanup();
  }
});

test('pascal: the same seed gives the same manifest; images are linked, or copied with --copy', async () => {
  const s = sandbox('pascal-seed');
  try {
    await pascalFixture(s);
    await importDataset(s.ws, 'pascal', { src: s.src, seed: 11 }, { name: 'a', quiet: true });
    await importDataset(s.ws, 'pascal', { src: s.src, seed: 11 }, { name: 'b', quiet: true, copy: true });
    const manifest = (n: string) => readFileSync(join(s.ws.datasets, n, 'manifest.jsonl'), 'utf8');
    assert.equal(manifest('a'), manifest('b'));
    const src = join(s.src, 'dataset', 'aeroplane', '2008_000001.jpg');
    assert.equal(statSync(join(s.ws.datasets, 'a', 'images', 'aeroplane', '2008_000001.jpg')).ino, statSync(src).ino, 'hard-linked');
    assert.notEqual(statSync(join(s.ws.datasets, 'b', 'images', 'aeroplane', '2008_000001.jpg')).ino, statSync(src).ino, 'copied');
    // Some other seed splits differently (the split really is seeded).
    const splits = (n: string) => manifest(n).split('\n').filter(Boolean).map((l) => JSON.parse(l).split).join();
    let differs = false;
    for (let seed = 12; seed < 20 && !differs; seed++) {
      await importDataset(s.ws, 'pascal', { src: s.src, seed }, { name: 'c', quiet: true, force: true });
      differs = splits('c') !== splits('a');
    }
    assert.ok(differs);
  } finally {
    s.cleanup();
  }
});

test('pascal: a wrong layout, nothing usable, or an existing name is refused and leaves nothing', async () => {
  const s = sandbox('pascal-bad');
  try {
    await assert.rejects(importDataset(s.ws, 'pascal', { src: s.src, seed: 0 }, { name: 'p', quiet: true }), /has no dataset\/ or sentence\/ folder/);
    assertNothingWritten(s.ws, 'p');
    // Only unusable images: the write is aborted.
    writeGarbage(join(s.src, 'dataset', 'cat', 'x.jpg'));
    writeText(join(s.src, 'sentence', 'cat', 'x.txt'), FIVE('x'));
    await assert.rejects(importDataset(s.ws, 'pascal', { src: s.src, seed: 0 }, { name: 'p', quiet: true }), /nothing to import .*1 unreadable image/);
    assertNothingWritten(s.ws, 'p');
    // An existing dataset is kept unless forced.
    await writeImage(join(s.src, 'dataset', 'cat', 'y.jpg'));
    writeText(join(s.src, 'sentence', 'cat', 'y.txt'), FIVE('y'));
    await importDataset(s.ws, 'pascal', { src: s.src, seed: 0 }, { name: 'p', quiet: true });
    await assert.rejects(importDataset(s.ws, 'pascal', { src: s.src, seed: 0 }, { name: 'p', quiet: true }), /dataset p already exists.*--force/);
    await importDataset(s.ws, 'pascal', { src: s.src, seed: 0 }, { name: 'p', quiet: true, force: true });
    checkRoundTrip(s.ws, 'p');
    mkdirSync(join(s.root, 'empty', 'dataset'), { recursive: true });
    mkdirSync(join(s.root, 'empty', 'sentence'));
    await assert.rejects(importDataset(s.ws, 'pascal', { src: join(s.root, 'empty'), seed: 0 }, { name: 'q', quiet: true }), /dataset\/ has no class folders/);
  } finally {
    s.cleanup();
  }
});

test('pascal: class folder names map to VOC class names', () => {
  assert.equal(vocClass('diningtable'), 'diningtable');
  assert.equal(vocClass('dining_table'), 'diningtable');
  assert.equal(vocClass('Potted Plant'), 'pottedplant');
  assert.equal(vocClass('tv'), 'tvmonitor');
  assert.equal(vocClass('airplane'), 'aeroplane');
  assert.equal(vocClass('motorcycle'), 'motorbike');
  assert.equal(vocClass('giraffe'), null);
});
