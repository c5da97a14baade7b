import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { importDataset } from '../../data/importers/importers.js';
import { assertNothingWritten, byId, checkRoundTrip, sandbox, writeImage, writeJson, writeText, type Sandbox } from './import-fixtures.js';

const NAMES = Array.from({ length: 12 }, (_, i) => `${1001 + i}.jpg`);
const caption = (name: string, n: number) => `Photo ${name} caption ${n} .`;

/** flickr30k-images/ with 12 captioned images, one uncaptioned, one captioned but absent. */
async function imagesFixture(s: Sandbox): Promise<void> {
  for (const n of NAMES) await writeImage(join(s.src, 'flickr30k-images', n));
  await writeImage(join(s.src, 'flickr30k-images', '2000.jpg')); // no captions anywhere
}

/** The official token file; comments of 1001.jpg come out of order, 1012.jpg's are blank. */
function tokenFile(s: Sandbox): void {
  const lines: string[] = [];
  for (const n of NAMES) for (const i of n === '1001.jpg' ? [3, 0, 4, 1, 2] : [0, 1, 2, 3, 4]) lines.push(`${n}#${i}\t${n === '1012.jpg' ? '  ' : caption(n, i)}`);
  lines.push(`9999.jpg#0\t${caption('9999.jpg', 0)}`); // image missing
  lines.push('this line has no tab');
  writeText(join(s.src, 'results_20130124.token'), lines.join('\n') + '\n');
}

/** The csv re-packaging, including its well-known row without the second separator. */
function csvFile(s: Sandbox): void {
  const lines = ['image_name| comment_number| comment'];
  for (const n of NAMES) for (let i = 0; i < 5; i++) lines.push(n === '1005.jpg' && i === 4 ? `${n}| 4 ${caption(n, i)}` : `${n}| ${i}| ${n === '1012.jpg' ? '' : caption(n, i)}`);
  writeText(join(s.src, 'results.csv'), lines.join('\n') + '\n');
}

function counts(skipped: Record<string, { count: number }>): Record<string, number> {
  return Object.fromEntries(Object.entries(skipped).map(([k, v]) => [k, v.count]));
}

test('flickr30k (token file): captions in comment order, no labels, seeded holdouts, skips reported', async () => {
  const s = sandbox('f30k');
  try {
    await imagesFixture(s);
    tokenFile(s);
    const r = await importDataset(s.ws, 'flickr30k', { src: s.src, seed: 5 }, { name: 'f', quiet: true });
    const d = checkRoundTrip(s.ws, 'f');
    const e = byId(d.entries);
    assert.equal(d.entries.length, 11);
    assert.ok(!e.has('1012') && !e.has('9999') && !e.has('2000'));
    const first = e.get('1001')!;
    assert.equal(first.file, 'images/1001.jpg');
    assert.deepEqual(first.captions, [0, 1, 2, 3, 4].map((i) => caption('1001.jpg', i)));
    assert.equal(first.label, null);
    assert.deepEqual(first.labels, []);
    assert.deepEqual(d.card.classes, []);
    // 11 usable: a tenth (rounded down) each to val and test.
    assert.deepEqual(d.card.counts, { train: 9, val: 1, test: 1 });
    assert.equal(d.card.seed, 5);
    assert.equal(d.card.params.valCount, 1);
    assert.deepEqual(counts(r.skipped.toJSON()), { 'malformed caption line': 1, 'no captions': 1, 'empty captions': 1, 'missing image file': 1 });
    assert.deepEqual(r.skipped.toJSON()['malformed caption line'].examples, ['results_20130124.token line 62']);
    // Explicit holdout sizes, and a clear error when they cannot fit.
    await importDataset(s.ws, 'flickr30k', { src: s.src, seed: 5, valCount: 2, testCount: 3 }, { name: 'g', quiet: true });
    assert.deepEqual(checkRoundTrip(s.ws, 'g').card.counts, { train: 6, val: 2, test: 3 });
    await assert.rejects(importDataset(s.ws, 'flickr30k', { src: s.src, seed: 5, testCount: 12 }, { name: 'h', quiet: true }), /cannot hold out 1 val \+ 12 test images from 11 usable images/);
    assertNothingWritten(s.ws, 'h');
  } finally {
    s.cleanup();
  }
});

test('flickr30k (results.csv): same images, the broken csv row still read', async () => {
  const s = sandbox('f30k-csv');
  try {
    await imagesFixture(s);
    csvFile(s);
    const r = await importDataset(s.ws, 'flickr30k', { src: s.src, seed: 1 }, { name: 'f', quiet: true });
    const d = checkRoundTrip(s.ws, 'f');
    assert.equal(d.entries.length, 11);
    assert.deepEqual(byId(d.entries).get('1005')!.captions, [0, 1, 2, 3, 4].map((i) => caption('1005.jpg', i)));
    assert.deepEqual(counts(r.skipped.toJSON()), { 'no captions': 1, 'empty captions': 1 });
  } finally {
    s.cleanup();
  }
});

test('flickr30k: splits from a Karpathy file; images it does not list are reported', async () => {
  const s = sandbox('f30k-karpathy');
  try {
    await imagesFixture(s);
    tokenFile(s);
    const splits = ['train', 'train', 'val', 'test', 'restval', 'train', 'test', 'val', 'train', 'train'];
    writeJson(join(s.root, 'dataset_flickr30k.json'), {
      dataset: 'flickr30k',
      images: NAMES.slice(0, 10).map((filename, i) => ({ filename, imgid: i, split: splits[i], sentences: [{ raw: 'x' }] })),
    });
    const r = await importDataset(s.ws, 'flickr30k', { src: s.src, seed: 0, karpathy: join(s.root, 'dataset_flickr30k.json') }, { name: 'k', quiet: true });
    const d = checkRoundTrip(s.ws, 'k');
    const e = byId(d.entries);
    assert.equal(e.get('1003')!.split, 'val');
    assert.equal(e.get('1004')!.split, 'test');
    assert.equal(e.get('1005')!.split, 'train', 'restval → train');
    assert.deepEqual(d.card.counts, { train: 6, val: 2, test: 2 });
    assert.equal(d.card.seed, null, 'no seeded choice was made');
    assert.equal(r.skipped.toJSON()['not in the Karpathy split file'].count, 3); // 1011, 1012, 9999
  } finally {
    s.cleanup();
  }
});

test('flickr30k: a wrong layout gets a one-line error', async () => {
  const s = sandbox('f30k-bad');
  try {
    await assert.rejects(importDataset(s.ws, 'flickr30k', { src: s.src, seed: 0 }, { name: 'f', quiet: true }), /has no flickr30k-images\/ folder/);
    await imagesFixture(s);
    await assert.rejects(importDataset(s.ws, 'flickr30k', { src: s.src, seed: 0 }, { name: 'f', quiet: true }), /has neither results_20130124\.token nor results\.csv/);
    writeText(join(s.src, 'results.csv'), 'name,caption\n1001.jpg,hello\n');
    await assert.rejects(importDataset(s.ws, 'flickr30k', { src: s.src, seed: 0 }, { name: 'f', quiet: true }), /results\.csv has no `image_name\| comment_number\| comment` header/);
    rmSync(join(s.src, 'results.csv'));
    await assert.rejects(importDataset(s.ws, 'flickr30k', { src: join(s.src, 'nope'), seed: 0 }, { name: 'f', quiet: true }), /is not a folder/);
    assertNothingWritten(s.ws, 'f');
  } finally {
    s.cleanup();
  }
});
