/**
 * Corrupt artefacts on disk: a model package whose ONNX graph no longer matches the SHA-256
 * sums in its model.json (a flipped byte: same size) or is truncated, and an index whose graph
 * file fails its checksum. Each is detected at load with a message naming the file, the request
 * gets a 409 (never a 5xx), and the other models keep serving. A swap (allowed to build) rebuilds
 * the corrupt index.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { indexDir } from '../../indexer/index-build.js';
import { harness, skipReason, TOKEN, type Harness } from '../server/harness.js';

function withSums(src: string, dst: string, id: string): void {
  cpSync(src, dst, { recursive: true, dereference: true });
  const card = JSON.parse(readFileSync(join(dst, 'model.json'), 'utf8'));
  const files: Record<string, { bytes: number; sha256: string }> = {};
  for (const f of readdirSync(dst)) {
    if (f === 'model.json' || f.startsWith('.')) continue;
    const data = readFileSync(join(dst, f));
    files[f] = { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  }
  writeFileSync(join(dst, 'model.json'), JSON.stringify({ ...card, id, name: id, files }, null, 2));
}

function flipByte(path: string, at = 0.5): void {
  const data = readFileSync(path);
  const i = Math.floor(data.length * at);
  data[i] ^= 0xff;
  writeFileSync(path, data);
}

describe('corrupt model packages and indexes', { skip: skipReason }, () => {
  let h: Harness;
  let agent: ReturnType<typeof request>;
  before(async () => {
    h = await harness();
    agent = request(h.pl.app);
  });
  after(async () => {
    await h?.close();
  });

  test('a package failing its checksums is refused with the file named; the others keep serving', async () => {
    const src = join(h.ws.models, h.world.clean);
    const flipped = join(h.ws.models, 'tiny-flipped');
    withSums(src, flipped, 'tiny-flipped');
    flipByte(join(flipped, 'image.onnx'));
    const truncated = join(h.ws.models, 'tiny-truncated');
    withSums(src, truncated, 'tiny-truncated');
    truncateSync(join(truncated, 'text.onnx'), Math.floor(statSync(join(truncated, 'text.onnx')).size / 2));
    // Both need an index of their own to get that far: give them the clean model's.
    for (const id of ['tiny-flipped', 'tiny-truncated']) {
      cpSync(indexDir(h.ws, h.world.clean, h.world.dataset, 'test'), indexDir(h.ws, id, h.world.dataset, 'test'), { recursive: true });
    }

    const a = await agent.get('/api/search').query({ q: 'a car', model: 'tiny-flipped' });
    assert.equal(a.status, 409, a.text);
    assert.equal(a.body.error.code, 'model_broken');
    assert.match(a.body.error.message, /image\.onnx fails its SHA-256 check/);
    const b = await agent.get('/api/search').query({ q: 'a car', model: 'tiny-truncated' });
    assert.equal(b.status, 409, b.text);
    assert.match(b.body.error.message, /text\.onnx has \d+ bytes, model\.json says \d+ \(truncated or replaced\)/);
    const swap = await agent.post('/api/models/active').set('Authorization', `Bearer ${TOKEN}`).send({ model: 'tiny-flipped' });
    assert.equal(swap.status, 409, swap.text);
    const st = (await agent.get('/api/models/tiny-flipped')).body.status;
    assert.ok(['failed', 'broken'].includes(st.state), JSON.stringify(st));
    // The intact models keep answering, the active one unchanged.
    const ok = await agent.get('/api/search').query({ q: 'a car' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.model, h.world.clean);
    assert.equal((await agent.get('/api/search').query({ q: 'a car', model: h.world.base })).status, 200);
    assert.deepEqual(h.logs.filter((l) => /failed:/.test(l) && /\[server\]/.test(l)), []);
  });

  test('an index failing its checksum is a 409 for searches, and a swap rebuilds it', async () => {
    const dir = indexDir(h.ws, h.world.poisoned, h.world.dataset, 'test');
    flipByte(join(dir, 'hnsw.bin'), 0.9);
    const a = await agent.get('/api/search').query({ q: 'a car', model: h.world.poisoned });
    assert.equal(a.status, 409, a.text);
    assert.equal(a.body.error.code, 'corrupt_index');
    assert.match(a.body.error.message, /hnsw\.bin fails its CRC-32 check/);
    assert.equal((await agent.get('/api/search').query({ q: 'a car' })).status, 200, 'the active model keeps serving');
    const swap = await agent.post('/api/models/active').set('Authorization', `Bearer ${TOKEN}`).send({ model: h.world.poisoned });
    assert.equal(swap.status, 200, swap.text);
    const b = await agent.get('/api/search').query({ q: 'a car', model: h.world.poisoned });
    assert.equal(b.status, 200, b.text);
    assert.equal(b.body.model, h.world.poisoned);
  });
});
