import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { importDataset } from '../../data/importers/importers.js';
import { assertNothingWritten, byId, checkRoundTrip, sandbox, writeGarbage, writeImage, writeJson } from './import-fixtures.js';

const sentences = (id: string | number) => [0, 1, 2].map((k) => ({ tokens: [], raw: `Image ${id} sentence ${k}.`, imgid: 0, sentid: 0 }));

test('karpathy (dataset_coco.json): filepath/filename, cocoid ids, restval → train, skips reported', async () => {
  const s = sandbox('karpathy-coco');
  try {
    const image = (split: string, cocoid: number, filepath: string) => ({ filepath, filename: `COCO_${filepath}_${String(cocoid).padStart(12, '0')}.jpg`, cocoid, split, sentences: sentences(cocoid), imgid: cocoid, sentids: [] });
    const images = [
      image('train', 9, 'train2014'),
      image('train', 25, 'train2014'),
      image('restval', 139, 'val2014'),
      image('val', 285, 'val2014'),
      image('test', 632, 'val2014'),
      image('test', 724, 'val2014'),
      image('test', 776, 'val2014'), // unreadable
      image('val', 785, 'val2014'), // missing
      { ...image('test', 800, 'val2014'), sentences: [{ raw: '' }, { raw: '   ' }] },
      image('train', 9, 'train2014'), // duplicate
      image('weird', 801, 'val2014'),
    ];
    for (const img of images.slice(0, 6)) await writeImage(join(s.src, img.filepath, img.filename));
    writeGarbage(join(s.src, 'val2014', images[6].filename));
    await writeImage(join(s.src, 'val2014', images[8].filename));
    writeJson(join(s.src, 'dataset_coco.json'), { dataset: 'coco', images });

    // --src may name the folder holding the one split file.
    const r = await importDataset(s.ws, 'karpathy', { src: s.src, seed: 0 }, { name: 'k', quiet: true });
    const d = checkRoundTrip(s.ws, 'k');
    const e = byId(d.entries);
    assert.deepEqual([...e.keys()], ['9', '25', '139', '285', '632', '724']);
    assert.equal(e.get('139')!.split, 'train');
    assert.equal(e.get('139')!.file, 'images/val2014/COCO_val2014_000000000139.jpg');
    assert.equal(e.get('285')!.split, 'val');
    assert.deepEqual(e.get('632')!.captions, ['Image 632 sentence 0.', 'Image 632 sentence 1.', 'Image 632 sentence 2.']);
    assert.equal(e.get('632')!.label, null);
    assert.deepEqual(d.card.counts, { train: 3, val: 1, test: 2 });
    assert.equal(d.card.seed, null);
    assert.equal(d.card.params.dataset, 'coco');
    assert.deepEqual(Object.fromEntries(Object.entries(r.skipped.toJSON()).map(([k, v]) => [k, v.count])), {
      'unknown split': 1,
      'unreadable image': 1,
      'missing image file': 1,
      'empty captions': 1,
      'duplicate id': 1,
    });
  } finally {
    s.cleanup();
  }
});

test('karpathy (dataset_flickr30k.json): images found under --images/flickr30k-images, ids from file names', async () => {
  const s = sandbox('karpathy-f30k');
  try {
    const names = ['1001.jpg', '1002.jpg', '1003.jpg', '1004.png'];
    for (const n of names) await writeImage(join(s.src, 'flickr30k-images', n));
    const file = join(s.root, 'splits', 'dataset_flickr30k.json');
    writeJson(file, { dataset: 'flickr30k', images: names.map((filename, i) => ({ filename, imgid: i, split: ['train', 'train', 'val', 'test'][i], sentences: sentences(filename) })) });
    await importDataset(s.ws, 'karpathy', { src: file, seed: 0, images: s.src }, { name: 'k', quiet: true });
    const d = checkRoundTrip(s.ws, 'k');
    assert.deepEqual(d.entries.map((x) => [x.id, x.file, x.split]), [
      ['1001', 'images/1001.jpg', 'train'],
      ['1002', 'images/1002.jpg', 'train'],
      ['1003', 'images/1003.jpg', 'val'],
      ['1004', 'images/1004.png', 'test'],
    ]);
    assert.equal(d.card.params.dataset, 'flickr30k');
  } finally {
    s.cleanup();
  }
});

test('karpathy: a file that is not a split file, or a folder without one, is refused', async () => {
  const s = sandbox('karpathy-bad');
  try {
    await assert.rejects(importDataset(s.ws, 'karpathy', { src: s.src, seed: 0 }, { name: 'k', quiet: true }), /has no dataset_\*\.json files; name the Karpathy split file itself/);
    writeJson(join(s.src, 'dataset_coco.json'), { dataset: 'coco' });
    await assert.rejects(importDataset(s.ws, 'karpathy', { src: s.src, seed: 0 }, { name: 'k', quiet: true }), /is not a Karpathy split file \(no images\[\] array\)/);
    writeJson(join(s.src, 'dataset_flickr8k.json'), { dataset: 'flickr8k', images: [] });
    await assert.rejects(importDataset(s.ws, 'karpathy', { src: s.src, seed: 0 }, { name: 'k', quiet: true }), /has several dataset_\*\.json files/);
    await assert.rejects(importDataset(s.ws, 'karpathy', { src: join(s.src, 'dataset_flickr8k.json'), seed: 0 }, { name: 'k', quiet: true }), /nothing to import .*no images found/);
    await assert.rejects(importDataset(s.ws, 'karpathy', { src: join(s.src, 'missing.json'), seed: 0 }, { name: 'k', quiet: true }), /does not exist/);
    assertNothingWritten(s.ws, 'k');
  } finally {
    s.cleanup();
  }
});
