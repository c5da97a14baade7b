import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileDigestCounts, fileSha256, readModelPackage, verifyModelPackage } from '../../indexer/package.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A package folder whose graphs are plain bytes (verification never parses them), with sums in model.json. */
function fakePackage(): { dir: string; files: Record<string, Buffer> } {
  const dir = mkdtempSync(join(tmpdir(), 'pl-verify-'));
  const files: Record<string, Buffer> = {
    'image.onnx': Buffer.from('image graph '.repeat(4000)),
    'text.onnx': Buffer.from('text graph '.repeat(5000)),
    'bpe_simple_vocab_16e6.txt.gz': Buffer.from('vocabulary'),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  writeFileSync(join(dir, 'model.json'), JSON.stringify({
    id: 'fake', kind: 'base', arch: 'x', embedDim: 8,
    image: { size: 16, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bicubic', crop: 'center' },
    text: { tokenizer: 'clip-bpe', contextLength: 8 },
    files: Object.fromEntries(Object.entries(files).map(([n, b]) => [n, { bytes: b.length, sha256: sha(b) }])),
  }));
  return { dir, files };
}

test('a package is hashed once; later verifications only stat its files', async () => {
  const { dir } = fakePackage();
  try {
    const pkg = readModelPackage(dir);
    const before = fileDigestCounts();
    await verifyModelPackage(pkg);
    const first = fileDigestCounts();
    assert.equal(first.computed - before.computed, 3, 'three files hashed the first time');
    await verifyModelPackage(pkg);
    await verifyModelPackage(readModelPackage(dir));
    const later = fileDigestCounts();
    assert.equal(later.computed, first.computed, 'nothing hashed again');
    assert.equal(later.reused - first.reused, 6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a changed file (same size, other bytes, new mtime) is hashed again and refused', async () => {
  const { dir, files } = fakePackage();
  try {
    const pkg = readModelPackage(dir);
    await verifyModelPackage(pkg);
    const path = join(dir, 'text.onnx');
    const old = statSync(path);
    const changed = Buffer.from(files['text.onnx']);
    changed[changed.length >> 1] ^= 0xff; // same size, one byte different
    writeFileSync(path, changed);
    utimesSync(path, old.atime, new Date(old.mtimeMs + 5000));
    assert.equal(statSync(path).size, old.size);
    const before = fileDigestCounts().computed;
    await assert.rejects(verifyModelPackage(readModelPackage(dir)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'bad_model');
      assert.match(err.message, /text\.onnx fails its SHA-256 check/);
      return true;
    });
    assert.equal(fileDigestCounts().computed - before, 1, 'only the changed file was hashed again');
    // Refused again on the next try (the failure is not remembered as a pass).
    await assert.rejects(verifyModelPackage(pkg), /text\.onnx fails its SHA-256 check/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a change hidden behind the old mtime is still seen (ctime moves)', async () => {
  const { dir, files } = fakePackage();
  try {
    const path = join(dir, 'image.onnx');
    const stamp = 1_700_000_000; // whole seconds: utimes can set this mtime back exactly
    utimesSync(path, stamp, stamp);
    assert.equal(await fileSha256(path), sha(files['image.onnx']));
    const old = statSync(path, { bigint: true });
    const changed = Buffer.from(files['image.onnx']);
    changed[0] ^= 0xff;
    // Wait for the clock to move past the first write's ctime, then write and restore the mtime.
    const t0 = statSync(path, { bigint: true }).ctimeNs;
    while (statSync(join(dir, 'model.json'), { bigint: true }).ctimeNs <= t0) writeFileSync(join(dir, 'model.json'), readFileSync(join(dir, 'model.json')));
    writeFileSync(path, changed);
    utimesSync(path, stamp, stamp);
    assert.equal(statSync(path, { bigint: true }).mtimeNs, old.mtimeNs, 'same size, same mtime');
    assert.equal(statSync(path, { bigint: true }).ino, old.ino, 'same inode');
    assert.equal(await fileSha256(path), sha(changed));
    await assert.rejects(verifyModelPackage(readModelPackage(dir)), /image\.onnx fails its SHA-256 check/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
