import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { importDataset } from '../../data/importers/importers.js';
import { drawLabel } from '../../data/importers/coco.js';
import { assertNothingWritten, byId, checkRoundTrip, sandbox, writeGarbage, writeImage, writeJson, type Sandbox } from './import-fixtures.js';

const CATEGORIES = [
  { id: 1, name: 'person', supercategory: 'person' },
  { id: 3, name: 'car', supercategory: 'vehicle' },
  { id: 18, name: 'dog', supercategory: 'animal' },
  { id: 62, name: 'chair', supercategory: 'furniture' },
];

/** image id → instance category ids (one per instance), per split. */
const INSTANCES: Record<'train' | 'val', Record<number, number[]>> = {
  train: { 9: [1, 1, 18, 1], 25: [3], 30: [18, 18], 34: [1], 36: [62], 42: [1, 3], 50: [1], 51: [3] },
  val: { 139: [1, 62, 1], 285: [18], 632: [3], 724: [62], 776: [1], 785: [18, 18], 9: [18] },
};
const NO_INSTANCES = 800; // val image with captions but no objects
const EMPTY_CAPTIONS = 801; // val image whose captions are blank
const MISSING = 50; // train image absent from train2014/
const UNREADABLE = 51; // train image that is not a JPEG

const fileName = (split: string, year: string, id: number) => `COCO_${split}${year}_${String(id).padStart(12, '0')}.jpg`;

/** COCO layout: annotations/captions_*.json (+ instances_*.json), images in train2014/ and val2014/. */
async function cocoFixture(s: Sandbox, opts: { year?: string; instances?: boolean } = {}): Promise<void> {
  const year = opts.year ?? '2014';
  let annId = 1000;
  for (const split of ['train', 'val'] as const) {
    const ids = Object.keys(INSTANCES[split]).map(Number);
    if (split === 'val') ids.push(NO_INSTANCES, EMPTY_CAPTIONS);
    const images = ids.map((id) => ({ id, file_name: fileName(split, year, id), width: 8, height: 6, license: 3 }));
    const annotations: { id: number; image_id: number; caption: string }[] = [];
    for (const id of ids) {
      // Written in reverse annotation-id order: the importer must sort them back.
      for (let k = 4; k >= 0; k--) annotations.push({ id: annId + k, image_id: id, caption: id === EMPTY_CAPTIONS ? ' ' : ` ${split} ${id}  caption ${k}\n` });
      annId += 5;
    }
    writeJson(join(s.src, 'annotations', `captions_${split}${year}.json`), { info: {}, licenses: [], images, annotations });
    if (opts.instances !== false) {
      const inst = Object.entries(INSTANCES[split]).flatMap(([id, cats]) => cats.map((category_id, k) => ({ id: Number(id) * 100 + k, image_id: Number(id), category_id, bbox: [0, 0, 1, 1] })));
      writeJson(join(s.src, 'annotations', `instances_${split}${year}.json`), { images, categories: CATEGORIES, annotations: inst });
    }
    for (const img of images) {
      const path = join(s.src, `${split}${year}`, img.file_name);
      if (split === 'train' && img.id === MISSING) continue;
      if (split === 'train' && img.id === UNREADABLE) writeGarbage(path);
      else await writeImage(path);
    }
  }
}

const NAMES: Record<number, string> = Object.fromEntries(CATEGORIES.map((c) => [c.id, c.name]));

test('coco: captions in annotation order, labels from instances, COCO val as test; bad images reported', async () => {
  const s = sandbox('coco');
  try {
    await cocoFixture(s);
    const r = await importDataset(s.ws, 'coco', { src: s.src, seed: 7 }, { name: 'c', quiet: true });
    const d = checkRoundTrip(s.ws, 'c');
    const e = byId(d.entries);
    // 8 train images minus the missing and the unreadable; val: 7 + the unlabelled one, minus the repeated id 9 and the blank one.
    assert.deepEqual(d.card.counts, { train: 6, val: 0, test: 7 });
    const nine = e.get('9')!;
    assert.equal(nine.file, 'images/train2014/COCO_train2014_000000000009.jpg');
    assert.equal(nine.split, 'train', 'the first image with id 9 (train) wins');
    assert.deepEqual(nine.captions, [0, 1, 2, 3, 4].map((k) => `train 9 caption ${k}`));
    assert.deepEqual(nine.labels, ['dog', 'person']);
    assert.equal(nine.meta.cocoSplit, 'train2014');
    assert.equal(nine.meta.license, 3);
    for (const split of ['train', 'val'] as const) {
      for (const [id, cats] of Object.entries(INSTANCES[split])) {
        const entry = e.get(id);
        if (!entry || entry.meta.cocoSplit !== `${split}2014`) continue;
        assert.deepEqual(entry.labels, [...new Set(cats.map((c) => NAMES[c]))].sort(), id);
        assert.equal(entry.label, drawLabel(cats.slice().sort((a, b) => a - b).map((c) => NAMES[c]), 7, id), id);
      }
    }
    const unlabelled = e.get(String(NO_INSTANCES))!;
    assert.equal(unlabelled.label, null);
    assert.deepEqual(unlabelled.labels, []);
    assert.equal(unlabelled.split, 'test');
    assert.deepEqual(d.card.classes, ['car', 'chair', 'dog', 'person']);
    assert.equal(d.card.seed, 7);
    const skipped = r.skipped.toJSON();
    assert.deepEqual(Object.fromEntries(Object.entries(skipped).map(([k, v]) => [k, v.count])), {
      'missing image file': 1,
      'unreadable image': 1,
      'duplicate id': 1,
      'empty captions': 1,
    });
    assert.deepEqual(skipped['duplicate id'].examples, ['9']);
  } finally {
    s.cleanup();
  }
});

test('coco: the paper\'s label rule is seeded and weighted by instance count', () => {
  const instances = ['dog', 'person', 'person', 'person'];
  let person = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) if (drawLabel(instances, 1, String(i)) === 'person') person++;
  assert.ok(Math.abs(person / n - 0.75) < 0.03, `person drawn ${person} of ${n} times`);
  assert.equal(drawLabel(instances, 1, '42'), drawLabel(instances, 1, '42'));
  assert.equal(drawLabel([], 1, '42'), null);
});

test('coco: --test-per-class draws a balanced test split, leaving small classes out', async () => {
  const s = sandbox('coco-balanced');
  try {
    await cocoFixture(s);
    const r = await importDataset(s.ws, 'coco', { src: s.src, seed: 7, testPerClass: 2 }, { name: 'b', quiet: true });
    const d = checkRoundTrip(s.ws, 'b');
    const perClass = new Map<string, { all: number; test: number }>();
    for (const e of d.entries) {
      if (e.label === null) continue;
      const c = perClass.get(e.label) ?? { all: 0, test: 0 };
      c.all++;
      if (e.split === 'test') c.test++;
      perClass.set(e.label, c);
    }
    const leftOut = [...perClass].filter(([, c]) => c.all < 2).map(([l]) => l).sort();
    for (const [label, c] of perClass) assert.equal(c.test, c.all < 2 ? 0 : 2, label);
    assert.deepEqual(d.card.params.classesLeftOutOfTest, leftOut);
    assert.equal(d.card.params.testPerClass, 2);
    if (leftOut.length) assert.ok(r.notes.some((n) => n.includes(leftOut[0])));
    // Not drawn: COCO train stays train, COCO val becomes val.
    for (const e of d.entries) if (e.split !== 'test') assert.equal(e.split, String(e.meta.cocoSplit).startsWith('train') ? 'train' : 'val', e.id);
    assert.equal(d.entries.find((e) => e.label === null)!.split, 'val');
  } finally {
    s.cleanup();
  }
});

test('coco: 2017 layout without instances files imports unlabelled, and --test-per-class then fails', async () => {
  const s = sandbox('coco-2017');
  try {
    await cocoFixture(s, { year: '2017', instances: false });
    const r = await importDataset(s.ws, 'coco', { src: s.src, seed: 0 }, { name: 'c', quiet: true });
    const d = checkRoundTrip(s.ws, 'c');
    assert.equal(d.card.params.year, '2017');
    assert.ok(d.entries.every((e) => e.label === null && e.labels.length === 0));
    assert.ok(d.entries[0].file.startsWith('images/train2017/'));
    assert.equal(r.notes.length, 2);
    await assert.rejects(importDataset(s.ws, 'coco', { src: s.src, seed: 0, testPerClass: 2 }, { name: 'x', quiet: true }), /--test-per-class needs labels/);
    await assert.rejects(importDataset(s.ws, 'coco', { src: s.src, seed: 0, year: '2014' }, { name: 'x', quiet: true }), /annotations\/ has no captions_train2014\.json or captions_val2014\.json$/);
    assertNothingWritten(s.ws, 'x');
  } finally {
    s.cleanup();
  }
});

test('coco: a wrong layout gets a one-line error', async () => {
  const s = sandbox('coco-bad');
  try {
    await assert.rejects(importDataset(s.ws, 'coco', { src: s.src, seed: 0 }, { name: 'c', quiet: true }), /has no annotations\/ folder/);
    writeJson(join(s.src, 'annotations', 'captions_val2014.json'), { images: [], annotations: [] });
    await assert.rejects(importDataset(s.ws, 'coco', { src: s.src, seed: 0 }, { name: 'c', quiet: true }), /has no val2014\/ folder for annotations\/captions_val2014\.json/);
    await writeImage(join(s.src, 'val2014', 'x.jpg'));
    await assert.rejects(importDataset(s.ws, 'coco', { src: s.src, seed: 0 }, { name: 'c', quiet: true }), /nothing to import .*no images found/);
    writeJson(join(s.src, 'annotations', 'captions_val2014.json'), { images: 'nope' });
    await assert.rejects(importDataset(s.ws, 'coco', { src: s.src, seed: 0 }, { name: 'c', quiet: true }), /is not a COCO captions file/);
    assertNothingWritten(s.ws, 'c');
  } finally {
    s.cleanup();
  }
});
