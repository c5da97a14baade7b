import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace } from '../../core/workspace.js';
import { cachedTextEmbeddings } from '../../indexer/text-cache.js';

const ws = resolveWorkspace(mkdtempSync(join(tmpdir(), 'pl-textcache-')));
process.on('exit', () => rmSync(ws.root, { recursive: true, force: true }));

/** An encoder that counts its calls and gives each text a vector derived from it and a model tag. */
function encoder(tag: number) {
  const calls: string[][] = [];
  const encode = async (texts: string[]) => {
    calls.push(texts);
    return texts.map((t) => Float32Array.from([t.length, tag, t.charCodeAt(0)]));
  };
  return { calls, encode };
}

test('a repeated request is served from disk, bit for bit', async () => {
  const e = encoder(1);
  const key = { encoder: 'model-a', texts: ['a sheep', 'two planes'] };
  const first = await cachedTextEmbeddings(ws, key, e.encode);
  const again = await cachedTextEmbeddings(ws, key, e.encode);
  assert.equal(e.calls.length, 1, 'encoded once');
  assert.deepEqual(again.map((v) => [...v]), first.map((v) => [...v]));
});

test('another model or other texts are never served stale vectors', async () => {
  const a = encoder(1);
  const b = encoder(2);
  await cachedTextEmbeddings(ws, { encoder: 'model-a', texts: ['x', 'y'] }, a.encode);
  const other = await cachedTextEmbeddings(ws, { encoder: 'model-b', texts: ['x', 'y'] }, b.encode);
  assert.equal(b.calls.length, 1, 'a changed text graph encodes again');
  assert.equal(other[0][1], 2);
  await cachedTextEmbeddings(ws, { encoder: 'model-a', texts: ['x', 'y', 'z'] }, a.encode);
  assert.equal(a.calls.length, 2, 'a changed manifest (other texts) encodes again');
});

test('a damaged cache file is ignored and rewritten', async () => {
  const e = encoder(3);
  const key = { encoder: 'model-c', texts: ['one', 'two'] };
  await cachedTextEmbeddings(ws, key, e.encode);
  const dir = join(ws.cache, 'text-embeds');
  const f32 = readdirSync(dir).find((n) => n.startsWith('model-c') && n.endsWith('.f32'))!;
  writeFileSync(join(dir, f32), new Uint8Array(24));
  const v = await cachedTextEmbeddings(ws, key, e.encode);
  assert.equal(e.calls.length, 2);
  assert.equal(v[0][1], 3);
});
