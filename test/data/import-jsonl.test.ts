import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { importDataset } from '../../data/importers/importers.js';
import { assertNothingWritten, byId, checkRoundTrip, sandbox, writeGarbage, writeImage, writeText } from './import-fixtures.js';

test('jsonl: caption or captions, optional label and split, paths relative to the manifest', async () => {
  const s = sandbox('jsonl');
  try {
    for (const p of ['imgs/a.jpg', 'imgs/b.png', 'imgs/sub/c.jpg', 'imgs/d.jpg', 'imgs/e.jpg', 'imgs/f.jpg', 'imgs/g.jpg']) await writeImage(join(s.src, p));
    writeGarbage(join(s.src, 'imgs', 'bad.jpg'));
    await writeImage(join(s.root, 'outside', 'o.jpg'));
    const lines = [
      { image: 'imgs/a.jpg', caption: 'a red square', label: 'square', split: 'train' },
      { image: 'imgs/b.png', captions: ['a blue disc', '  a   round blue thing '], label: 'disc', labels: ['disc', 'blue'], split: 'test', meta: { colour: 'blue' } },
      { image: 'imgs/sub/c.jpg', caption: 'a green square', label: 'square' },
      { image: 'imgs/d.jpg', captions: ['d one'], id: 'custom-d' },
      { image: 'imgs/e.jpg', caption: 'e one', split: 'val' },
      { image: 'imgs/f.jpg', caption: 'f one' },
      { image: 'imgs/g.jpg', caption: 'g one' },
      { image: '../outside/o.jpg', caption: 'outside the manifest folder' },
      { image: 'imgs/bad.jpg', caption: 'unreadable' },
      { image: 'imgs/missing.jpg', caption: 'no such file' },
      { image: 'imgs/f.jpg', caption: 'same image again' },
      { image: 'imgs/a.jpg', caption: '   ', id: 'blank' },
      { image: 'imgs/a.jpg', caption: 'x', split: 'holdout' },
      { caption: 'no image' },
    ];
    writeText(join(s.src, 'manifest.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n\nnot json at all\n[1, 2]\n');
    const r = await importDataset(s.ws, 'jsonl', { src: join(s.src, 'manifest.jsonl'), seed: 9, valCount: 1, testCount: 1 }, { name: 'j', quiet: true });
    const d = checkRoundTrip(s.ws, 'j');
    const e = byId(d.entries);
    assert.deepEqual([...e.keys()], ['imgs/a', 'imgs/b', 'imgs/sub/c', 'custom-d', 'imgs/e', 'imgs/f', 'imgs/g', 'o']);
    const b = e.get('imgs/b')!;
    assert.equal(b.file, 'images/imgs/b.png');
    assert.deepEqual(b.captions, ['a blue disc', 'a round blue thing']);
    assert.equal(b.label, 'disc');
    assert.deepEqual(b.labels, ['blue', 'disc']);
    assert.equal(b.split, 'test');
    assert.deepEqual(b.meta, { colour: 'blue', width: 8, height: 6 });
    assert.deepEqual(e.get('imgs/sub/c')!.labels, ['square'], 'labels default to [label]');
    assert.equal(e.get('imgs/sub/c')!.file, 'images/imgs/sub/c.jpg');
    assert.equal(e.get('o')!.file, 'images/o.jpg', 'an image outside the manifest folder keeps its base name');
    assert.equal(e.get('custom-d')!.label, null);
    assert.equal(e.get('imgs/a')!.split, 'train');
    assert.equal(e.get('imgs/e')!.split, 'val');
    // Five lines had no split: one val, one test, three train, drawn with the seed.
    assert.deepEqual(d.card.counts, { train: 4, val: 2, test: 2 });
    assert.equal(d.card.seed, 9);
    const skipped = r.skipped.toJSON();
    assert.deepEqual(Object.fromEntries(Object.entries(skipped).map(([k, v]) => [k, v.count])), {
      'malformed line': 4,
      'unreadable image': 1,
      'missing image file': 1,
      'duplicate id': 1,
      'empty captions': 1,
    });
    assert.deepEqual(skipped['malformed line'].examples, ['line 13 (unknown split "holdout")', 'line 14 (no "image" path)', 'line 16 (not JSON)']);
  } finally {
    s.cleanup();
  }
});

test('jsonl: every line with its split means no seeded choice; bad sources are refused', async () => {
  const s = sandbox('jsonl-bad');
  try {
    await writeImage(join(s.src, 'a.jpg'));
    writeText(join(s.src, 'all.jsonl'), JSON.stringify({ image: 'a.jpg', caption: 'a', split: 'test' }) + '\n');
    await importDataset(s.ws, 'jsonl', { src: join(s.src, 'all.jsonl'), seed: 4 }, { name: 'j', quiet: true });
    assert.equal(checkRoundTrip(s.ws, 'j').card.seed, null);
    writeText(join(s.src, 'train.jsonl'), JSON.stringify({ image: 'a.jpg', caption: 'a', split: 'train' }) + '\n');
    const r = await importDataset(s.ws, 'jsonl', { src: join(s.src, 'train.jsonl'), seed: 4 }, { name: 't', quiet: true });
    assert.deepEqual(r.notes, ['the test split is empty: evaluation and search need one']);
    assert.deepEqual(checkRoundTrip(s.ws, 't').card.notes, r.notes);
    await assert.rejects(importDataset(s.ws, 'jsonl', { src: s.src, seed: 0 }, { name: 'x', quiet: true }), /is not a file \(jsonl wants the manifest file itself\)/);
    writeText(join(s.src, 'empty.jsonl'), '\n');
    await assert.rejects(importDataset(s.ws, 'jsonl', { src: join(s.src, 'empty.jsonl'), seed: 0 }, { name: 'x', quiet: true }), /has no lines/);
    writeText(join(s.src, 'junk.jsonl'), 'junk\n{"image": "nope.jpg", "caption": "c"}\n');
    await assert.rejects(
      importDataset(s.ws, 'jsonl', { src: join(s.src, 'junk.jsonl'), seed: 0 }, { name: 'x', quiet: true }),
      /nothing to import .*: all 1 images were unusable \(skipped 2: 1 malformed line \(e\.g\. line 1 \(not JSON\)\); 1 missing image file/,
    );
    assertNothingWritten(s.ws, 'x');
  } finally {
    s.cleanup();
  }
});
