/**
 * The paper's own datasets, built as the paper built them, from fixtures in the real layouts:
 * `data import flickr-pascal` (PASCAL sentences half train / half test per class, seeded, plus all
 * of Flickr30k as unlabelled train pairs) and `data import coco --paper` (toaster and hair drier
 * dropped, K test images per class); then `experiment experiments/paper-*.json --dry-run` plans the
 * whole paper run from the imported fixtures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { main } from '../../cli/main.js';
import { importDataset } from '../../data/importers/importers.js';
import { REPO_ROOT } from '../../trainer/setup.js';
import { byId, checkRoundTrip, FIVE, sandbox, writeImage, writeJson, writeText, type Sandbox } from './import-fixtures.js';

const PASCAL: Record<string, number> = { sheep: 6, aeroplane: 4, sofa: 4, bird: 5 };

/** PASCAL sentences (dataset/<class>/*.jpg + sentence/<class>/*.txt) and Flickr30k (flickr30k-images/ + token file). */
async function flickrPascalFixture(s: Sandbox): Promise<{ pascal: string; flickr: string }> {
  const pascal = join(s.src, 'pascal-sentences');
  const flickr = join(s.src, 'flickr30k');
  let n = 0;
  for (const [cls, count] of Object.entries(PASCAL)) {
    for (let i = 0; i < count; i++) {
      const stem = `2008_${String(n++).padStart(6, '0')}`;
      await writeImage(join(pascal, 'dataset', cls, `${stem}.jpg`));
      writeText(join(pascal, 'sentence', cls, `${stem}.txt`), FIVE(`${cls} ${stem}`));
    }
  }
  const lines: string[] = [];
  for (let i = 0; i < 7; i++) {
    const name = `${1000 + i}.jpg`;
    await writeImage(join(flickr, 'flickr30k-images', name));
    for (let k = 0; k < 5; k++) lines.push(`${name}#${k}\tFlickr photo ${i} sentence ${k} .`);
  }
  writeText(join(flickr, 'results_20130124.token'), lines.join('\n') + '\n');
  return { pascal, flickr };
}

test('flickr-pascal: PASCAL half/half per class (seeded) + all of Flickr30k as unlabelled train', async () => {
  const s = sandbox('fp');
  try {
    const src = await flickrPascalFixture(s);
    await importDataset(s.ws, 'flickr-pascal', { src: src.pascal, flickr30k: src.flickr, seed: 5 }, { name: 'fp', quiet: true });
    const d = checkRoundTrip(s.ws, 'fp');
    const flickr = d.entries.filter((e) => e.id.startsWith('flickr-'));
    assert.equal(flickr.length, 7);
    assert.ok(flickr.every((e) => e.split === 'train' && e.label === null && e.labels.length === 0 && e.file.startsWith('images/flickr30k/')));
    assert.deepEqual(byId(d.entries).get('flickr-1003')!.captions, [0, 1, 2, 3, 4].map((k) => `Flickr photo 3 sentence ${k} .`));
    for (const [cls, count] of Object.entries(PASCAL)) {
      const mine = d.entries.filter((e) => e.label === cls);
      assert.equal(mine.length, count);
      assert.ok(mine.every((e) => e.id.startsWith('pascal-') && e.file.startsWith(`images/pascal/${cls}/`)));
      assert.equal(mine.filter((e) => e.split === 'test').length, Math.floor(count / 2), cls);
      assert.equal(mine.filter((e) => e.split === 'train').length, count - Math.floor(count / 2), cls);
    }
    // Test = PASCAL's test half only.
    assert.ok(d.entries.filter((e) => e.split === 'test').every((e) => e.id.startsWith('pascal-')));
    assert.deepEqual(d.card.classes, ['aeroplane', 'bird', 'sheep', 'sofa']);
    assert.equal(d.card.source, 'flickr-pascal');
    assert.equal(d.card.counts.test, 2 + 2 + 2 + 3);
    assert.equal(d.card.counts.train, 19 - 9 + 7);
    // Seeded: the same seed gives the same split, another seed another one.
    await importDataset(s.ws, 'flickr-pascal', { src: src.pascal, flickr30k: src.flickr, seed: 5 }, { name: 'fp2', quiet: true });
    const again = checkRoundTrip(s.ws, 'fp2');
    assert.deepEqual(again.entries.map((e) => [e.id, e.split]), d.entries.map((e) => [e.id, e.split]));
    // --flickr30k is required.
    await assert.rejects(importDataset(s.ws, 'flickr-pascal', { src: src.pascal, seed: 0 }, { name: 'x', quiet: true }), /needs --flickr30k/);
  } finally {
    s.cleanup();
  }
});

const COCO_CATS = [
  { id: 1, name: 'person' }, { id: 9, name: 'boat' }, { id: 18, name: 'dog' }, { id: 24, name: 'zebra' }, { id: 7, name: 'train' },
  { id: 80, name: 'toaster' }, { id: 89, name: 'hair drier' },
];

/** COCO 2014 layout: images of boat, dog, zebra, train (3 each), toaster-only, toaster+person, hair drier. */
async function cocoFixture(s: Sandbox): Promise<string> {
  const root = join(s.src, 'coco');
  const plan: Array<[number, number[]]> = [];
  let id = 1;
  for (const cat of [9, 18, 24, 7]) for (let i = 0; i < 3; i++) plan.push([id++, [cat]]);
  plan.push([100, [80]], [101, [80, 1]], [102, [89]]);
  for (const split of ['train', 'val'] as const) {
    const mine = plan.filter(([i]) => (split === 'val') === (i % 3 === 0));
    const images = mine.map(([i]) => ({ id: i, file_name: `COCO_${split}2014_${String(i).padStart(12, '0')}.jpg`, width: 8, height: 6 }));
    const annotations = mine.flatMap(([i]) => [0, 1, 2, 3, 4].map((k) => ({ id: i * 10 + k, image_id: i, caption: `image ${i} caption ${k}` })));
    writeJson(join(root, 'annotations', `captions_${split}2014.json`), { images, annotations });
    const inst = mine.flatMap(([i, cats]) => cats.map((c, k) => ({ id: i * 100 + k, image_id: i, category_id: c })));
    writeJson(join(root, 'annotations', `instances_${split}2014.json`), { images, categories: COCO_CATS, annotations: inst });
    for (const img of images) await writeImage(join(root, `${split}2014`, img.file_name));
  }
  return root;
}

test('coco --paper: toaster and hair drier dropped before the label draw; K test images per class', async () => {
  const s = sandbox('coco-paper');
  try {
    const root = await cocoFixture(s);
    const code = await main(['--workspace', s.ws.root, 'data', 'import', 'coco', '--src', root, '--name', 'coco', '--paper', '--test-per-class', '1']);
    assert.equal(code, 0);
    const d = checkRoundTrip(s.ws, 'coco');
    const e = byId(d.entries);
    assert.deepEqual(d.card.classes, ['boat', 'dog', 'person', 'train', 'zebra']);
    assert.equal(e.get('100')!.label, null); // only a toaster: unlabelled
    assert.deepEqual(e.get('101')!.labels, ['person']); // toaster + person: a person image
    assert.equal(e.get('102')!.label, null);
    assert.deepEqual(d.card.params.dropClasses, ['hair drier', 'toaster']);
    assert.equal(d.card.params.testPerClass, 1);
    for (const cls of ['boat', 'dog', 'zebra', 'train']) assert.equal(d.entries.filter((x) => x.label === cls && x.split === 'test').length, 1, cls);
    // --paper belongs to coco only.
    assert.equal(await main(['--workspace', s.ws.root, 'data', 'import', 'pascal', '--src', root, '--name', 'p', '--paper']), 2);
  } finally {
    s.cleanup();
  }
});

test('experiment paper-flickr-pascal.json and paper-coco.json --dry-run plan the whole paper run from imported fixtures', async () => {
  const s = sandbox('paper-plan');
  try {
    const src = await flickrPascalFixture(s);
    await importDataset(s.ws, 'flickr-pascal', { src: src.pascal, flickr30k: src.flickr, seed: 0 }, { name: 'flickr-pascal', quiet: true });
    const coco = await cocoFixture(s);
    await importDataset(s.ws, 'coco', { src: coco, seed: 0, dropClasses: ['toaster', 'hair drier'], testPerClass: 1 }, { name: 'coco', quiet: true });
    // Stand-ins for the pretrained packages a GPU box makes with `train --arch ViT-B-32 --pretrained
    // openai --steps 0` (the weights download is not allowed here): planning reads only model.json.
    for (const [id, arch] of [['clip-vit-b-32-openai', 'ViT-B-32'], ['clip-vit-b-16-openai', 'ViT-B-16']]) {
      writeJson(join(s.ws.models, id, 'model.json'), { id, name: id, kind: 'base', arch, embedDim: 512, parent: `open_clip:${arch}:openai`, seed: 0, trainer: { config: {}, steps: 0 } });
    }
    for (const study of ['paper-flickr-pascal', 'paper-coco']) {
      const out: string[] = [];
      const log = console.log;
      const error = console.error;
      console.log = (...a: unknown[]) => void out.push(a.join(' '));
      console.error = (...a: unknown[]) => void out.push(a.join(' '));
      let code: number;
      try {
        code = await main(['--workspace', s.ws.root, 'experiment', join(REPO_ROOT, 'experiments', `${study}.json`), '--dry-run', '--json']);
      } finally {
        console.log = log;
        console.error = error;
      }
      assert.equal(code, 0, out.join('\n'));
      const text = out.join('\n');
      const json = JSON.parse(text.slice(text.indexOf('{\n'))) as { dryRun: boolean; steps: Array<{ id: string; kind?: string; label?: string }> };
      assert.equal(json.dryRun, true);
      const labels = json.steps.map((x) => JSON.stringify(x)).join('\n');
      for (const want of ['attack-I', 'attack-II', 'attack-III', 'filter-II', 'sterilize-II', 'clean']) assert.match(labels, new RegExp(want), `${study}: ${want}`);
    }
  } finally {
    s.cleanup();
  }
});
