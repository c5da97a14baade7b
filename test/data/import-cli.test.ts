import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { main } from '../../cli/main.js';
import { checkRoundTrip, FIVE, sandbox, writeImage, writeText } from './import-fixtures.js';

/** Runs the real CLI entry and captures what it prints. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('cli: data import, then data list and data show on the imported dataset; bad flags exit non-zero', async () => {
  const s = sandbox('cli');
  try {
    for (const [folder, names] of [['aeroplane', ['a1', 'a2']], ['sheep', ['s1', 's2', 's3', 's4']]] as const) {
      for (const n of names) {
        await writeImage(join(s.src, 'dataset', folder, `${n}.jpg`));
        writeText(join(s.src, 'sentence', folder, `${n}.txt`), FIVE(n));
      }
    }
    writeText(join(s.src, 'sentence', 'sheep', 'gone.txt'), FIVE('gone'));
    const ws = ['--workspace', s.ws.root];

    const imported = await cli(...ws, 'data', 'import', 'pascal', '--src', s.src, '--name', 'pas', '--seed', '2');
    assert.equal(imported.code, 0, imported.err);
    assert.match(imported.out, /^imported 6 images into dataset pas: train 3, val 0, test 3; 2 classes$/m);
    assert.match(imported.out, /^skipped 1: 1 missing image file \(e\.g\. dataset\/sheep\/gone\.jpg\)$/m);
    checkRoundTrip(s.ws, 'pas');

    const list = await cli(...ws, 'data', 'list');
    assert.equal(list.code, 0);
    assert.match(list.out, /^pas\s+pascal\s+train 3 {2}val 0 {2}test 3 {2}classes 2$/m);
    const listJson = JSON.parse((await cli(...ws, 'data', 'list', '--json')).out);
    assert.deepEqual(listJson.map((r: { name: string; counts: unknown }) => [r.name, r.counts]), [['pas', { train: 3, val: 0, test: 3 }]]);

    const show = await cli(...ws, 'data', 'show', 'pas');
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /^counts: train 3, val 0, test 3$/m);
    assert.match(show.out, /^classes \(2\): aeroplane, sheep$/m);
    assert.match(show.out, /per class \(test\): aeroplane 1, sheep 2/);
    assert.match(show.out, /^ {2}- A a1 picture, sentence 1\.$/m);
    const showJson = JSON.parse((await cli(...ws, 'data', 'show', 'pas', '--json')).out);
    assert.deepEqual(showJson.testPerClass, { aeroplane: 1, sheep: 2 });
    assert.equal(showJson.card.source, 'pascal');
    assert.equal(showJson.card.seed, 2);

    // Refused: existing name without --force; accepted with it, as JSON.
    const again = await cli(...ws, 'data', 'import', 'pascal', '--src', s.src, '--name', 'pas');
    assert.equal(again.code, 2);
    assert.match(again.err, /dataset pas already exists .*--force/);
    const forced = await cli(...ws, 'data', 'import', 'pascal', '--src', s.src, '--name', 'pas', '--force', '--json');
    assert.equal(forced.code, 0, forced.err);
    const parsed = JSON.parse(forced.out);
    assert.equal(parsed.dataset.counts.train, 3);
    assert.equal(parsed.skipped['missing image file'].count, 1);

    // Bad input: one line on stderr, non-zero exit, nothing written.
    const bad: [string[], RegExp][] = [
      [['pascal', '--src', s.src, '--name', 'x', '--bogus'], /Unknown option '--bogus'/],
      [['pascal', '--src', s.src, '--name', 'x', '--year', '2014'], /--year does not apply to the pascal importer/],
      [['imagenet', '--src', s.src, '--name', 'x'], /unknown importer "imagenet"; one of: pascal, flickr30k, flickr-pascal, coco, karpathy, jsonl/],
      [['pascal', '--src', s.src], /missing --name/],
      [['pascal', '--name', 'x'], /missing --src/],
      [['pascal', '--src', s.src, '--name', 'x', '--seed=-1'], /--seed must be ≥ 0/],
      [['pascal', '--src', s.src, '--name', '../x'], /invalid dataset name/],
      [['coco', '--src', s.src, '--name', 'x', '--test-per-class=0'], /--test-per-class must be ≥ 1/],
      [['flickr30k', '--src', join(s.root, 'nowhere'), '--name', 'x'], /is not a folder/],
      [[], /data import needs one importer/],
    ];
    for (const [args, message] of bad) {
      const r = await cli(...ws, 'data', 'import', ...args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.err, message, args.join(' '));
      assert.ok(r.err.startsWith('poisonlens: '), r.err);
    }
    const missing = await cli(...ws, 'data', 'show', 'nope');
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /unknown dataset "nope"/);
    assert.deepEqual(JSON.parse((await cli(...ws, 'data', 'list', '--json')).out).map((r: { name: string }) => r.name), ['pas']);
  } finally {
    s.cleanup();
  }
});
