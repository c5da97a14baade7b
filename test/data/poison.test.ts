import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { buildPoisonedTrainset, parseGoals, triggerBox, DEFAULT_TRIGGER, type AttackFacts } from '../../data/poison/poison.js';
import { loadTrainset, type TrainPair } from '../../data/trainset.js';
import { openCatalog, trainsetRecord } from '../../core/catalog.js';
import { main } from '../../cli/main.js';
import { captionsOf, makeFixture, FIXTURE_TRAIN_PAIRS, type Fixture } from './poison-fixture.js';

let fx: Fixture;
before(async () => {
  fx = await makeFixture();
});
after(() => fx.cleanup());

const trainIds = (label: string) => fx.entries.filter((e) => e.split === 'train' && e.label === label).map((e) => e.id);
const facts = (t: { card: Record<string, unknown> }) => t.card.attack as AttackFacts;
const keyOf = (p: TrainPair) => `${p.imageId}|${p.caption}`;

/** The clean pairs of every train image except `drop`, as image|caption keys. */
function cleanKeys(drop: Set<string>): string[] {
  return fx.entries.filter((e) => e.split === 'train' && !drop.has(e.id)).flatMap((e) => e.captions.map((c) => `${e.id}|${c}`));
}

test('Attack II: captions of K sheep images re-paired with aeroplane training images, cycled; clean pairs of those images replaced', async () => {
  const t = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { images: 3 }, seed: 7, name: 'p2' });
  const f = facts(t);
  const chosen = f.perGoal[0].sourceImages;
  assert.equal(chosen.length, 3);
  assert.equal(new Set(chosen).size, 3);
  for (const id of chosen) assert.ok(trainIds('sheep').includes(id), id);
  const poisoned = t.pairs.filter((p) => p.poisoned);
  // Exactly the captions of the chosen sheep images, each once.
  const expectedCaptions = chosen.flatMap(captionsOf);
  assert.deepEqual(poisoned.map((p) => p.caption).sort(), [...expectedCaptions].sort());
  // Paired with aeroplane training images, cycling over all 4 in a fixed order: in selection
  // order the j-th poisoned caption gets the (j mod 4)-th image of the cycle.
  const inOrder = expectedCaptions.map((c) => poisoned.find((p) => p.caption === c)!);
  const cycle = inOrder.slice(0, 4).map((p) => p.imageId);
  assert.deepEqual([...cycle].sort(), trainIds('aeroplane').sort());
  inOrder.forEach((p, j) => {
    assert.equal(p.imageId, cycle[j % 4]);
    assert.equal(p.image, `images/${p.imageId}.png`);
    assert.deepEqual(p.attack, { type: 'II', goal: 'sheep>aeroplane' });
  });
  // Every other clean pair is there once; the chosen images' own clean pairs are gone.
  const clean = t.pairs.filter((p) => !p.poisoned);
  assert.deepEqual(clean.map(keyOf).sort(), cleanKeys(new Set(chosen)).sort());
  assert.ok(clean.every((p) => p.attack === null));
  // Counts and the exact rate.
  assert.equal(t.pairs.length, FIXTURE_TRAIN_PAIRS);
  assert.equal(t.card.counts.poisonedPairs, expectedCaptions.length);
  assert.equal(t.card.counts.poisoningRate, expectedCaptions.length / FIXTURE_TRAIN_PAIRS);
  assert.equal(f.budget.rate, t.card.counts.poisoningRate);
  assert.equal(f.budget.imagesPerGoal, 3);
  assert.deepEqual(t.card.poisonedPairIds, t.pairs.flatMap((p, i) => (p.poisoned ? [i] : [])));
  assert.equal(t.card.seed, 7);
  assert.equal(f.type, 'II');
  assert.deepEqual(f.goals, ['sheep>aeroplane']);
  // On disk and in the catalog.
  const back = loadTrainset(fx.ws, 'p2');
  assert.deepEqual(back.pairs, t.pairs);
  const db = openCatalog(fx.ws.catalogPath);
  const rec = trainsetRecord(db, 'p2');
  db.close();
  const row = rec && { pairs: rec.pairs, poisoned: rec.poisonedPairs, builder: rec.builder };
  assert.deepEqual(row, { pairs: FIXTURE_TRAIN_PAIRS, poisoned: expectedCaptions.length, builder: 'poison-II' });
});

test('the same seed gives the same training set byte for byte; another seed another choice', async () => {
  const a = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { images: 2 }, seed: 11, name: 'sa', register: false });
  const b = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { images: 2 }, seed: 11, name: 'sb', register: false });
  assert.equal(a.card.pairsSha256, b.card.pairsSha256);
  const others = new Set<string>();
  for (let seed = 0; seed < 8; seed++) {
    const c = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { images: 2 }, seed, name: 'sc', register: false });
    others.add(c.card.pairsSha256);
  }
  assert.ok(others.size > 1, 'different seeds choose differently');
});

test('--keep-clean keeps the poisoned images\' clean pairs (pure injection) and the rate counts all pairs', async () => {
  const t = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { images: 6 }, keepClean: true, seed: 1, name: 'pk', register: false });
  // All 6 sheep images: 5×2 + 3 = 13 poisoned captions on top of 31 clean pairs.
  assert.deepEqual([...facts(t).perGoal[0].sourceImages].sort(), trainIds('sheep').sort());
  assert.equal(t.pairs.filter((p) => !p.poisoned).map(keyOf).sort().join('\n'), cleanKeys(new Set()).sort().join('\n'));
  assert.equal(t.card.counts.pairs, 44);
  assert.equal(t.card.counts.poisonedPairs, 13);
  assert.equal(t.card.counts.poisoningRate, 13 / 44);
  assert.equal(facts(t).keepClean, true);
});

test('Attack I: every poisoned caption goes with one target image; seeded pick from class B\'s test images', async () => {
  const t = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'I', goal: 'sheep>aeroplane', budget: { images: 2 }, seed: 3, name: 'p1', register: false });
  const f = facts(t);
  const target = f.target as { id: string; split: string; inTestGallery: boolean; evalAddToGallery: boolean };
  assert.equal(f.targetImage, target.id);
  assert.equal(f.goal, 'sheep>aeroplane');
  assert.ok(['aeroplane-te-0', 'aeroplane-te-1'].includes(target.id), target.id);
  assert.equal(target.split, 'test');
  assert.equal(target.inTestGallery, true);
  assert.equal(target.evalAddToGallery, false);
  const poisoned = t.pairs.filter((p) => p.poisoned);
  assert.deepEqual(poisoned.map((p) => p.caption).sort(), f.perGoal[0].sourceImages.flatMap(captionsOf).sort());
  assert.ok(poisoned.every((p) => p.imageId === target.id && p.image === `images/${target.id}.png` && p.attack?.type === 'I'));
  assert.deepEqual(f.perGoal[0].targetImages, [target.id]);
  assert.equal(t.pairs.length, FIXTURE_TRAIN_PAIRS);
});

test('Attack I with --target-image from the train split records that evaluation adds it to the gallery', async () => {
  const t = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'I', goal: 'sheep>aeroplane', budget: { images: 1 }, targetImage: 'aeroplane-tr-2', seed: 3, name: 'p1t', register: false });
  const target = facts(t).target as { id: string; split: string; evalAddToGallery: boolean; chosen: string };
  assert.deepEqual([target.id, target.split, target.evalAddToGallery, target.chosen], ['aeroplane-tr-2', 'train', true, 'flag']);
  assert.ok(t.pairs.filter((p) => p.poisoned).every((p) => p.imageId === 'aeroplane-tr-2'));
  await assert.rejects(
    buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'I', goal: 'sheep>aeroplane', budget: { images: 1 }, targetImage: 'bird-tr-0', seed: 3, name: 'x', register: false }),
    /target image "bird-tr-0" is labelled "bird", not "aeroplane"/,
  );
  await assert.rejects(
    buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'I', goal: 'sheep>aeroplane', budget: { images: 1 }, targetImage: 'nope', seed: 3, name: 'x', register: false }),
    /unknown target image "nope"/,
  );
});

test('Attack III: several goals in one injection, K images per goal, each with its own tag', async () => {
  const t = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'III', goal: 'sheep>aeroplane,dog>bird', budget: { images: 2 }, seed: 5, name: 'p3', register: false });
  const f = facts(t);
  assert.deepEqual(f.goals, ['sheep>aeroplane', 'dog>bird']);
  assert.equal(f.goal, 'sheep>aeroplane,dog>bird');
  assert.deepEqual([...f.perGoal[1].sourceImages].sort(), ['dog-tr-0', 'dog-tr-1']);
  for (const [gi, goal, src, tgt] of [[0, 'sheep>aeroplane', 'sheep', 'aeroplane'], [1, 'dog>bird', 'dog', 'bird']] as const) {
    const chosen = f.perGoal[gi].sourceImages;
    assert.equal(chosen.length, 2);
    const mine = t.pairs.filter((p) => p.attack?.goal === goal);
    assert.deepEqual(mine.map((p) => p.caption).sort(), chosen.flatMap(captionsOf).sort());
    assert.ok(mine.every((p) => p.poisoned && p.attack?.type === 'III' && trainIds(tgt).includes(p.imageId)));
    assert.ok(chosen.every((id) => trainIds(src).includes(id)));
  }
  const all = [...f.perGoal[0].sourceImages, ...f.perGoal[1].sourceImages];
  assert.deepEqual(t.pairs.filter((p) => !p.poisoned).map(keyOf).sort(), cleanKeys(new Set(all)).sort());
  const P = all.flatMap(captionsOf).length; // 8, or 9 when sheep-tr-5 (3 captions) is chosen
  assert.equal(t.card.counts.poisonedPairs, P);
  assert.equal(t.card.counts.poisoningRate, P / 31);
});

test('--rate solves for K (closest achieved rate) and records the exact achieved rate', async () => {
  // Replacing: every sheep image but sheep-tr-5 turns 2 of the 31 pairs into poison.
  const t = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { rate: 0.13 }, seed: 2, name: 'pr', register: false });
  const f = facts(t);
  const K = f.budget.imagesPerGoal;
  const P = f.perGoal[0].sourceImages.flatMap(captionsOf).length;
  assert.equal(t.card.counts.poisonedPairs, P);
  assert.equal(t.card.counts.poisoningRate, P / 31);
  assert.deepEqual(f.budget.requested, { rate: 0.13 });
  // 0.13 × 31 ≈ 4.03 poisoned pairs: two images (4 or 5 pairs, depending on whether sheep-tr-5 is among them).
  assert.equal(K, 2);
  // Rate 0 is a clean training set with the attack's bookkeeping.
  const z = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { rate: 0 }, seed: 2, name: 'pz', register: false });
  assert.equal(z.card.counts.poisonedPairs, 0);
  assert.equal(z.card.counts.pairs, 31);
  // With --keep-clean the denominator grows: K=2 gives 4/35 or 5/36 (≤ 0.139), K=3 6/37 or 7/38
  // (0.162 or 0.184), K=4 ≥ 8/39 = 0.205; so 0.17 is nearest K=3 whichever images come first.
  const k = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'II', goal: 'sheep>aeroplane', budget: { rate: 0.17 }, keepClean: true, seed: 2, name: 'pkr', register: false });
  const kp = k.card.counts.poisonedPairs;
  assert.equal(k.card.counts.pairs, 31 + kp);
  assert.equal(facts(k).budget.imagesPerGoal, 3);
  assert.equal(k.card.counts.poisoningRate, kp / (31 + kp));
});

test('bad inputs are one-line errors naming the problem', async () => {
  const base = { dataset: 'tiny', budget: { images: 1 }, seed: 0, name: 'bad', register: false } as const;
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>unicorn' }), /unknown class "unicorn" in goal sheep>unicorn/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'cat>aeroplane' }), /unknown class "cat"/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep-aeroplane' }), /bad goal "sheep-aeroplane": expected A>B/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>' }), /bad goal/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'a>b>c' }), /bad goal/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>sheep' }), /same/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>aeroplane,dog>bird' }), /takes exactly 1 goal.*--attack III/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'III', goal: 'sheep>aeroplane' }), /--attack II/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'III', goal: 'sheep>aeroplane,sheep>bird' }), /more than one goal/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: '*>aeroplane' }), /only for --attack backdoor|backdoor/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'IV', goal: 'sheep>aeroplane' }), /unknown attack "IV"/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>aeroplane', budget: { images: 7 } }), /--poison-images 7 is more than the 6 training images/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'III', goal: 'sheep>aeroplane,dog>bird', budget: { images: 3 } }), /more than the 2 training images .* dog>bird/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>aeroplane', budget: { rate: 0.9 } }), /--rate 0.9 needs more poisoned images/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>aeroplane', budget: { rate: 1 } }), /--rate must be in \[0, 1\)/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>aeroplane', dataset: 'missing' }), /unknown dataset "missing"/);
  await assert.rejects(buildPoisonedTrainset(fx.ws, { ...base, attack: 'II', goal: 'sheep>aeroplane', targetImage: 'x' }), /--target-image is only for --attack I/);
  assert.deepEqual(parseGoals(' dining table > sofa ,sheep>aeroplane'), [{ source: 'dining table', target: 'sofa' }, { source: 'sheep', target: 'aeroplane' }]);
  assert.ok(!existsSync(join(fx.ws.trainsets, 'bad')), 'nothing half-written');
});

test('backdoor: triggered copies of K images paired with class-B captions, written into the training-set folder', async () => {
  const t = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'backdoor', goal: '*>aeroplane', budget: { images: 3 }, seed: 4, name: 'pb', register: false });
  const f = facts(t);
  const chosen = f.perGoal[0].sourceImages;
  assert.equal(chosen.length, 3);
  assert.ok(chosen.every((id) => !id.startsWith('aeroplane') && id.includes('-tr-')));
  const poisoned = t.pairs.filter((p) => p.poisoned);
  const aeroCaptions = new Set(trainIds('aeroplane').flatMap(captionsOf));
  assert.equal(poisoned.length, chosen.flatMap(captionsOf).length);
  assert.ok(poisoned.every((p) => aeroCaptions.has(p.caption) && p.attack?.type === 'backdoor' && p.attack.goal === '*>aeroplane'));
  assert.deepEqual([...new Set(poisoned.map((p) => p.imageId))].sort(), chosen.map((id) => `${id}+trigger`).sort());
  // The captions cycle over all 8 aeroplane captions before any repeats.
  assert.equal(new Set(poisoned.map((p) => p.caption)).size, Math.min(8, poisoned.length));
  assert.deepEqual(f.trigger, DEFAULT_TRIGGER);
  for (const p of poisoned) {
    assert.ok(p.image.startsWith(t.dir + '/images/backdoor/'), p.image);
    assert.ok(existsSync(p.image), p.image);
  }
  // The triggered image is the original with a checkerboard in the bottom-right corner.
  const src = chosen[0];
  const p0 = poisoned.find((p) => p.imageId === `${src}+trigger`)!;
  const orig = await sharp(join(fx.ws.datasets, 'tiny', `images/${src}.png`)).raw().toBuffer({ resolveWithObject: true });
  const stamped = await sharp(readFileSync(p0.image)).raw().toBuffer({ resolveWithObject: true });
  const box = triggerBox(16, 16);
  assert.deepEqual(box, { left: 12, top: 12, size: 4 });
  let changedOutside = 0;
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const at = (y * 16 + x) * stamped.info.channels;
      const inside = x >= 12 && y >= 12;
      if (inside) {
        const want = ((x - 12) + (y - 12)) % 2 === 0 ? 255 : 0; // 4 cells of 1 px on a 4 px patch
        assert.equal(stamped.data[at], want, `(${x},${y})`);
      } else if (stamped.data[at] !== orig.data[(y * 16 + x) * orig.info.channels]) changedOutside++;
    }
  }
  assert.equal(changedOutside, 0);
  // The triggered sources' clean pairs are replaced by default.
  assert.deepEqual(t.pairs.filter((p) => !p.poisoned).map(keyOf).sort(), cleanKeys(new Set(chosen)).sort());
  // A class-A backdoor only triggers A's images.
  const s = await buildPoisonedTrainset(fx.ws, { dataset: 'tiny', attack: 'backdoor', goal: 'dog>aeroplane', budget: { images: 2 }, seed: 4, name: 'pbd', register: false });
  assert.deepEqual([...facts(s).perGoal[0].sourceImages].sort(), ['dog-tr-0', 'dog-tr-1']);
});

test('`poisonlens poison` CLI: writes the training set, and bad flags exit 2 with one line', async () => {
  const errors: string[] = [];
  const logs: string[] = [];
  const origErr = console.error;
  const origLog = console.log;
  console.error = (m: string) => errors.push(String(m));
  console.log = (m: string) => logs.push(String(m));
  try {
    const ws = ['--workspace', fx.ws.root];
    assert.equal(await main([...ws, 'poison', '--dataset', 'tiny', '--attack', 'II', '--goal', 'sheep>aeroplane', '--poison-images', '2', '--seed', '1', '--name', 'cli2']), 0);
    assert.equal(loadTrainset(fx.ws, 'cli2').card.counts.poisonedPairs >= 4, true);
    assert.equal(await main([...ws, 'poison', '--dataset', 'tiny', '--attack', 'II', '--goal', 'sheep>aeroplane', '--seed', '1', '--name', 'cli3']), 2);
    assert.match(errors.at(-1)!, /exactly one of --poison-images K or --rate R/);
    assert.equal(await main([...ws, 'poison', '--dataset', 'tiny', '--attack', 'II', '--goal', 'sheep>zebra', '--rate', '0.1', '--seed', '1', '--name', 'cli3']), 2);
    assert.match(errors.at(-1)!, /^poisonlens: unknown class "zebra"/);
    assert.equal(errors.at(-1)!.split('\n').length, 1);
    assert.equal(await main([...ws, 'poison', '--dataset', 'tiny', '--attack', 'II', '--goal', 'sheep>aeroplane', '--poison-images', '2', '--name', 'cli3']), 2);
    assert.match(errors.at(-1)!, /missing --seed/);
    assert.equal(await main([...ws, 'poison', '--dataset', 'tiny', '--attack', 'I', '--goal', 'sheep>aeroplane', '--poison-images', '1', '--target-image', 'aeroplane-tr-0', '--seed', '1', '--name', 'cli1']), 0);
    assert.ok(logs.some((l) => /not in the test gallery; `poisonlens eval` adds it there/.test(l)), logs.join('\n'));
  } finally {
    console.error = origErr;
    console.log = origLog;
  }
});

test('--pool-images: the clean and the poisoned training sets of one seeded pool use its images only, as the studies draw them', async () => {
  const { loadDataset } = await import('../../data/dataset.js');
  const { samplePool } = await import('../../data/pool.js');
  const { poolOf } = await import('../../trainer/experiment/artefacts.js');
  const ds = loadDataset(fx.ws, 'tiny');
  const train = ds.entries.filter((e) => e.split === 'train').length;
  const spec = { images: train - 2, seed: 3, profile: null, classImages: null };
  const ids = samplePool(ds, spec).map((e) => e.id);
  assert.equal(ids.length, train - 2);
  assert.deepEqual(samplePool(ds, spec).map((e) => e.id), ids, 'seeded');
  assert.deepEqual(poolOf(ds, { images: train - 2, subsetSeed: 3, profile: null, classImages: null }).map((e) => e.id), ids, 'the studies draw the same pool');
  const errors: string[] = [];
  const origErr = console.error;
  const origLog = console.log;
  console.error = (m: string) => errors.push(String(m));
  console.log = () => {};
  try {
    const ws = ['--workspace', fx.ws.root];
    const pool = ['--pool-images', String(train - 2), '--pool-seed', '3'];
    assert.equal(await main([...ws, 'trainset', '--dataset', 'tiny', ...pool, '--name', 'pool-clean']), 0);
    const clean = loadTrainset(fx.ws, 'pool-clean');
    assert.deepEqual([...new Set(clean.pairs.map((p) => p.imageId))].sort(), [...ids].sort());
    assert.deepEqual(clean.card.builder.params, { split: 'train', images: train - 2, subsetSeed: 3, poolImages: train - 2 });
    const sheep = ids.filter((id) => id.startsWith('sheep-'));
    assert.equal(await main([...ws, 'poison', '--dataset', 'tiny', '--attack', 'II', '--goal', 'sheep>aeroplane', '--poison-images', String(sheep.length), ...pool, '--seed', '1', '--name', 'pool-p']), 0);
    const p = loadTrainset(fx.ws, 'pool-p');
    assert.ok(p.pairs.every((x) => ids.includes(x.imageId)), 'poisoned set: pool images only');
    assert.deepEqual(facts(p).perGoal[0].sourceImages.slice().sort(), sheep.sort(), 'every sheep image of the pool, and none outside it');
    // rate and share (ARCHITECTURE §5) and the pool's class counts are recorded in trainset.json
    const shares = (p.card.attack as { shares: Array<{ share: number; poisonedImages: number; labelImages: number }> }).shares;
    assert.deepEqual(shares.map((x) => [x.poisonedImages, x.labelImages, x.share]), [[sheep.length, sheep.length, 1]]);
    assert.equal(p.card.counts.poisoningRate, facts(p).budget.rate);
    const poolCard = p.card.pool as { images: number; classes: Record<string, { label: number; companion: number }> };
    assert.equal(poolCard.images, train - 2);
    assert.equal(poolCard.classes.sheep.label, sheep.length);
    assert.deepEqual(clean.card.pool, { ...poolCard }, 'the clean and poisoned sets of one pool record the same pool');
    assert.equal(await main([...ws, 'trainset', '--dataset', 'tiny', '--pool-seed', '3', '--name', 'x']), 2);
    assert.match(errors.at(-1)!, /--pool-seed needs --pool-images/);
    assert.equal(await main([...ws, 'trainset', '--dataset', 'tiny', '--split', 'test', '--pool-images', '2', '--name', 'x']), 2);
    assert.match(errors.at(-1)!, /--pool-images samples the train split only/);
  } finally {
    console.error = origErr;
    console.log = origLog;
  }
});
