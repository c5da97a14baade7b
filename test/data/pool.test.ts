import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset, ManifestEntry } from '../../data/dataset.js';
import { basePart, classCounts, classTargets, poolFacts, poolReservoir, restrictTrainSplit, samplePool, type PoolSpec } from '../../data/pool.js';
import { goalShares } from '../../data/poison/share.js';

const CLASSES = ['person', 'dog', 'sheep', 'sofa', 'aeroplane'];

/** 100 train images per class (every 10th dog also shows a sheep, every 7th person a sofa), 5 captions each. */
function dataset(baseImages: number | null): Dataset {
  const entries: ManifestEntry[] = [];
  let i = 0;
  for (let round = 0; round < 100; round++) {
    for (const c of CLASSES) {
      const labels = [c];
      if (c === 'dog' && round % 10 === 0) labels.push('sheep');
      if (c === 'person' && round % 7 === 0) labels.push('sofa');
      entries.push({ id: String(i).padStart(4, '0'), file: `images/${i}.png`, split: 'train', label: c, labels: labels.sort(), captions: [0, 1, 2, 3, 4].map((k) => `${c} ${i} caption ${k}`), meta: {} });
      i++;
    }
  }
  entries.push({ id: 'test0', file: 'images/t.png', split: 'test', label: 'sheep', labels: ['sheep'], captions: ['a sheep'], meta: {} });
  const params: Record<string, unknown> = baseImages === null ? {} : { baseImages };
  return { name: 'd', dir: '/nowhere', entries, card: { name: 'd', source: 'test', classes: CLASSES, counts: { train: 500, val: 0, test: 1 }, params, seed: 0, licence: '', attribution: [], manifestSha256: 'abc', createdAt: '' } };
}

const spec = (over: Partial<PoolSpec>): PoolSpec => ({ images: null, seed: 0, profile: null, classImages: null, captionsPerImage: null, ...over });

test('base part and reservoir split the train images: the first N for the base, the rest for pools', () => {
  const d = dataset(200);
  assert.equal(basePart(d).length, 200);
  assert.equal(poolReservoir(d).length, 300);
  const base = new Set(basePart(d).map((e) => e.id));
  for (const s of [spec({ images: 150 }), spec({ images: 100, profile: 'flickr30k' }), spec({ images: 100, classImages: { sheep: 5 } })]) {
    assert.ok(samplePool(d, s).every((e) => !base.has(e.id) && e.split === 'train'), JSON.stringify(s));
  }
  // without a base part: the whole train split, as before
  assert.equal(poolReservoir(dataset(null)).length, 500);
  assert.equal(basePart(dataset(null)).length, 500);
});

test('exact class counts are exclusive: no other image shows the class as a companion', () => {
  const d = dataset(null);
  const pool = samplePool(d, spec({ images: 200, classImages: { sheep: 7 } }));
  const counts = classCounts(pool, CLASSES);
  assert.deepEqual(counts.sheep, { label: 7, companion: 0 });
  assert.equal(pool.length, 200);
  assert.ok(counts.sofa.companion > 0, 'a class without an exact count keeps its companions');
});

test('a profile shapes the pool and water-fills past classes that run short', () => {
  const d = dataset(null);
  const pool = samplePool(d, spec({ images: 300, profile: 'flickr30k', classImages: { sheep: 3 } }));
  const counts = classCounts(pool, CLASSES);
  assert.equal(pool.length, 300);
  // person's weighted share (30 of 40 weights of the free classes) is more than its 100 images: capped, the rest spread
  assert.equal(counts.person.label, 100);
  assert.ok(counts.dog.label > counts.aeroplane.label, 'dog (weight 10) above aeroplane (weight 2)');
  assert.equal(counts.sheep.label, 3);
});

test('classTargets refuses more images of a class than exist', () => {
  const d = dataset(null);
  assert.throws(() => samplePool(d, spec({ images: 50, classImages: { sheep: 101 } })), /asks for 101 sheep images/);
  assert.throws(() => samplePool(d, spec({ images: 50, profile: 'nope' })), /unknown pool profile/);
  assert.throws(() => samplePool(d, spec({ images: 50, classImages: { unicorn: 1 } })), /not a class/);
  const byLabel = new Map(CLASSES.map((c) => [c, d.entries.filter((e) => e.label === c && e.split === 'train')]));
  assert.equal([...classTargets(CLASSES, spec({ images: 20 }), byLabel).values()].reduce((a, b) => a + b, 0), 20);
});

test('pools are seeded: same spec same pool, another seed another pool', () => {
  const d = dataset(100);
  const ids = (s: PoolSpec) => samplePool(d, s).map((e) => e.id).join();
  assert.equal(ids(spec({ images: 80, profile: 'flickr30k', classImages: { sheep: 4 } })), ids(spec({ images: 80, profile: 'flickr30k', classImages: { sheep: 4 } })));
  assert.notEqual(ids(spec({ images: 80, profile: 'flickr30k' })), ids(spec({ images: 80, profile: 'flickr30k', seed: 1 })));
});

test('captionsPerImage keeps a seeded subset of every image’s captions, also for the attack', () => {
  const d = dataset(null);
  const pool = samplePool(d, spec({ images: 50, captionsPerImage: 1 }));
  assert.ok(pool.every((e) => e.captions.length === 1));
  const restricted = restrictTrainSplit(d, pool);
  assert.ok(restricted.entries.filter((e) => e.split === 'train').every((e) => e.captions.length === 1));
  assert.equal(restricted.entries.filter((e) => e.split === 'test').length, 1, 'the test split is untouched');
  assert.equal((poolFacts(d, spec({ images: 50, captionsPerImage: 1 }), pool) as { pairs: number }).pairs, 50);
});

test('goalShares: share over class-A images, companions counted apart', () => {
  const d = dataset(null);
  const train = d.entries.filter((e) => e.split === 'train');
  const sheep = train.filter((e) => e.label === 'sheep').slice(0, 25).map((e) => e.id);
  const [s] = goalShares(train, CLASSES, { perGoal: [{ goal: 'sheep>aeroplane', sourceImages: sheep, targetImages: [], poisonedPairs: 125, available: 100 }] } as never);
  assert.deepEqual({ label: s.labelImages, companion: s.companionImages, poisoned: s.poisonedImages }, { label: 100, companion: 10, poisoned: 25 });
  assert.equal(s.share, 0.25);
  assert.ok(Math.abs(s.shareOfShowing - 25 / 110) < 1e-12);
});
