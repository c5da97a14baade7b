import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLASSES, CLASS_SPECS, nounLexicon, VOC_FREQUENCY } from '../../data/scenes/catalogue.js';
import { captionCeiling, planJobs } from '../../data/scenes/generate.js';
import { encodePngRgb } from '../../data/scenes/png-encoder.js';
import { article, counted, noun } from '../../data/scenes/words.js';
import { main } from '../../cli/main.js';
import { checkCaption, mentions } from './scenes-check.js';
import sharp from 'sharp';

test('every class synonym and glyph name maps back to its class, and to no other', () => {
  const lexicon = nounLexicon(); // throws if one noun names two classes
  for (const spec of CLASS_SPECS.values()) {
    for (const n of [...spec.nouns, ...spec.glyphs.flatMap((g) => g.names)]) {
      assert.equal(lexicon.get(n.s.toLowerCase()), spec.name, n.s);
      assert.equal(lexicon.get(n.p.toLowerCase()), spec.name, n.p);
    }
  }
  // the synonyms are all there
  const want: Record<string, string[]> = {
    sheep: ['sheep', 'lamb', 'ewe'],
    aeroplane: ['aeroplane', 'plane', 'jet', 'airliner'],
    motorbike: ['motorbike', 'motorcycle'],
    tvmonitor: ['tv', 'monitor', 'screen'],
    person: ['person', 'man', 'woman'],
  };
  for (const [cls, words] of Object.entries(want)) for (const w of words) assert.equal(lexicon.get(w), cls, w);
  assert.equal(CLASSES.length, 20);
});

test('English: articles, plurals, counts', () => {
  assert.equal(article('ewe'), 'a');
  assert.equal(article('owl'), 'an');
  assert.equal(article('SUV'), 'an');
  assert.equal(noun('bus').p, 'buses');
  assert.equal(noun('police car').p, 'police cars');
  assert.equal(noun('ox').p, 'oxen');
  assert.equal(counted(1, noun('eagle'), ['large']), 'a large eagle');
  assert.equal(counted(2, noun('sheep')), 'two sheep');
});

test('the caption checker catches wrong counts, absent classes and false adjectives', () => {
  const meta = {
    size: 64,
    background: 'grass',
    scene: { clouds: 0 },
    objects: [
      { class: 'sheep', glyph: 'ewe', style: 'flat', size: 'large', zone: 'ground', pose: 'standing', box: [2, 20, 34, 60] },
      { class: 'sheep', glyph: 'ram', style: 'glossy', size: 'small', zone: 'ground', pose: 'standing', box: [40, 30, 62, 55] },
    ],
  } as const;
  const m = meta as unknown as Parameters<typeof checkCaption>[1];
  assert.deepEqual(checkCaption('Two sheep on the grass', m), []);
  assert.deepEqual(checkCaption('A large flat ewe to the left of a small ram, on the grass', m), []);
  assert.notDeepEqual(checkCaption('A sheep on the grass', m), []);
  assert.notDeepEqual(checkCaption('Two sheep and a dog on the grass', m), []);
  assert.notDeepEqual(checkCaption('A glossy ewe and a flat ram', m).filter((p) => /glossy/.test(p)), []);
  assert.notDeepEqual(checkCaption('A ram to the left of a ewe', m), []);
  assert.notDeepEqual(checkCaption('Two ewes on the grass', m), []);
  // a place after "above" is not a relation between objects
  assert.deepEqual(checkCaption('A ewe standing on the grass and a ram standing above a country road', m), []);
  assert.throws(() => mentions('the sheep'), /without a count/);
});

test('splits: balanced test split first, then val, then train; natural balance has a long tail', () => {
  const jobs = planJobs({ count: 5000, seed: 3, testPerClass: 10, val: 300, balance: 'natural' });
  assert.equal(jobs.filter((j) => j.split === 'test').length, 200);
  assert.equal(jobs.filter((j) => j.split === 'val').length, 300);
  assert.deepEqual(jobs.map((j) => j.index), [...jobs.keys()]);
  const train = new Map<string, number>();
  for (const j of jobs) if (j.split === 'train') train.set(j.main, (train.get(j.main) ?? 0) + 1);
  const top = [...train.entries()].sort((a, b) => b[1] - a[1])[0][0];
  assert.equal(top, 'person');
  assert.ok(train.get('person')! > 3 * train.get('cow')!, 'person is far more common than cow, as in VOC');
  assert.ok(VOC_FREQUENCY.person > VOC_FREQUENCY.sheep);
  assert.deepEqual(planJobs({ count: 5000, seed: 3, testPerClass: 10, val: 300, balance: 'natural' }), jobs);
});

test('caption ceiling: mean over captions of 1/(images sharing it)', () => {
  const r = captionCeiling(
    new Map([
      ['a', ['x', 'y']],
      ['b', ['x', 'z']],
    ]),
  );
  // x is shared by two images (1/2 each), y and z unique
  assert.equal(r.textToImageR1, 0.75);
  assert.equal(r.distinct, 3);
});

test('the PNG encoder writes files that decode to the same pixels', async () => {
  const px = new Uint8ClampedArray(7 * 5 * 3).map((_, i) => (i * 37) % 256);
  const { data, info } = await sharp(encodePngRgb(px, 7, 5)).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 7);
  assert.equal(info.height, 5);
  assert.deepEqual([...data], [...px]);
});

test('bad flags: one line, non-zero exit, nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-scenes-cli-'));
  const errors: string[] = [];
  const orig = console.error;
  console.error = (msg: string) => errors.push(String(msg));
  try {
    const run = (...args: string[]) => main(['--workspace', dir, 'data', 'scenes', ...args]);
    assert.equal(await run('--count', '100'), 2);
    assert.match(errors.pop()!, /missing --name/);
    assert.equal(await run('--name', 'x', '--count', 'lots'), 2);
    assert.match(errors.pop()!, /--count must be a number/);
    assert.equal(await run('--name', 'x', '--count', '100', '--size', '100'), 2);
    assert.match(errors.pop()!, /--size must be one of/);
    assert.equal(await run('--name', 'x', '--count', '100', '--balance', 'skewed'), 2);
    assert.match(errors.pop()!, /--balance must be uniform or natural/);
    assert.equal(await run('--name', 'x', '--count', '100', '--test-per-class', '50'), 2);
    assert.match(errors.pop()!, /smaller than the test split/);
    assert.equal(await run('--name', '../evil'), 2);
    assert.match(errors.pop()!, /invalid dataset name/);
    assert.equal(await run('--name', 'x', '--bogus'), 2);
    assert.ok(existsSync(dir));
    assert.ok(!existsSync(join(dir, 'datasets')) || readdirSync(join(dir, 'datasets')).length === 0);
  } finally {
    console.error = orig;
    rmSync(dir, { recursive: true, force: true });
  }
});
