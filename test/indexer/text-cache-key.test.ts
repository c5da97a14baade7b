import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace } from '../../core/workspace.js';
import { textEncoderKey, withTextCache } from '../../indexer/text-cache.js';

const ws = resolveWorkspace(mkdtempSync(join(tmpdir(), 'pl-textkey-')));
process.on('exit', () => rmSync(ws.root, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A model package in the workspace whose graphs are plain bytes, with their sums in model.json. */
function writePackage(id: string, textGraph: Buffer): string {
  const dir = join(ws.models, id);
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Buffer> = { 'image.onnx': Buffer.from('image graph'), 'text.onnx': textGraph, 'bpe_simple_vocab_16e6.txt.gz': Buffer.from('vocabulary') };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  writeFileSync(join(dir, 'model.json'), JSON.stringify({
    id, kind: 'clean', arch: 'x', embedDim: 3,
    image: { size: 16, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bicubic', crop: 'center' },
    text: { tokenizer: 'clip-bpe', contextLength: 8 },
    files: Object.fromEntries(Object.entries(files).map(([n, b]) => [n, { bytes: b.length, sha256: sha(b) }])),
  }));
  return dir;
}

function counting(tag: number) {
  const calls: number[] = [];
  return {
    calls,
    dim: 3,
    async encodeTexts(texts: string[]) {
      calls.push(texts.length);
      return texts.map((t) => Float32Array.from([t.length, tag, t.charCodeAt(0)]));
    },
  };
}

const captions = Array.from({ length: 150 }, (_, i) => `caption number ${i}`);

test('caption sets are encoded once per text graph; a changed graph is never served the old vectors', async () => {
  const dir = writePackage('m', Buffer.from('text graph v1 '.repeat(100)));
  const key1 = await textEncoderKey(ws, 'm');
  assert.ok(key1);
  const first = counting(1);
  const a = await withTextCache(ws, 'm', first).encodeTexts(captions);
  const b = await withTextCache(ws, 'm', first).encodeTexts(captions);
  assert.deepEqual(first.calls, [150], 'the second call came from the disk cache');
  assert.deepEqual(b.map((v) => [...v]), a.map((v) => [...v]));
  // Single queries and small sets go straight to the encoder.
  await withTextCache(ws, 'm', first).encodeTexts(['one query']);
  assert.deepEqual(first.calls, [150, 1]);

  // The text graph replaced by other bytes of the same size, model.json left as it was: the key
  // no longer vouches for the file, so nothing is cached or served from the cache.
  const path = join(dir, 'text.onnx');
  const old = statSync(path);
  const changed = Buffer.from(readFileSync(path));
  changed[3] ^= 0xff;
  writeFileSync(path, changed);
  utimesSync(path, old.atime, new Date(old.mtimeMs + 5000));
  assert.equal(await textEncoderKey(ws, 'm'), null);
  const second = counting(2);
  const c = await withTextCache(ws, 'm', second).encodeTexts(captions);
  assert.deepEqual(second.calls, [150], 'encoded by the new graph');
  assert.equal(c[0][1], 2);

  // A package rewritten with its new sums gets a new key: encoded again, then cached under it.
  writePackage('m', Buffer.from('text graph v2 '.repeat(100)));
  const key2 = await textEncoderKey(ws, 'm');
  assert.ok(key2 && key2 !== key1);
  const third = counting(3);
  await withTextCache(ws, 'm', third).encodeTexts(captions);
  await withTextCache(ws, 'm', third).encodeTexts(captions);
  assert.deepEqual(third.calls, [150]);
});
