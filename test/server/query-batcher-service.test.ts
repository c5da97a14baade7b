import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import type { ClipEncoder } from '../../indexer/types.js';
import { QueryBatcher, QueryTextCache } from '../../server/services/query-batcher-service.js';
import { tinyWorld, tinyWorldMissing } from '../helpers/tiny-world.js';

const skip = tinyWorldMissing() ?? false;
let enc: OnnxClipEncoder;
/** The real encoder, with every call's batch recorded. */
let calls: string[][];
let counted: ClipEncoder;

before(async () => {
  if (skip) return;
  enc = await OnnxClipEncoder.load((await tinyWorld()).modelDir, { intraOpNumThreads: 1 });
  calls = [];
  counted = {
    modelId: enc.modelId,
    dim: enc.dim,
    encodeTexts: (texts) => {
      calls.push([...texts]);
      return enc.encodeTexts(texts);
    },
    encodeImages: (images) => enc.encodeImages(images),
    close: () => enc.close(),
  };
});
after(async () => {
  await enc?.close();
});

test('concurrent queries share graph calls and each gets its own vector', { skip }, async () => {
  const texts = Array.from({ length: 12 }, (_, i) => `a sheep number ${i} on the grass`);
  enc.textCache.clear();
  const alone = await enc.encodeTexts(texts);
  enc.textCache.clear();
  calls.length = 0;
  const b = new QueryBatcher(counted, 5);
  const got = await Promise.all(texts.map((t) => b.encode(t)));
  // The first runs at once; the 11 that arrive meanwhile go in batches of at most 5.
  assert.deepEqual(calls.map((c) => c.length), [1, 5, 5, 1]);
  assert.deepEqual(calls.flat(), texts, 'every query encoded once, in arrival order');
  got.forEach((v, i) => {
    assert.equal(v.length, enc.dim);
    for (let j = 0; j < v.length; j++) assert.ok(Math.abs(v[j] - alone[i][j]) < 1e-5, `query ${i} matches its own encoding`);
  });
  // Idle again: a lone query runs at once, in a batch of one.
  calls.length = 0;
  await b.encode('a lone query');
  assert.deepEqual(calls, [['a lone query']]);
});

test('a failing graph call rejects only its own batch; the batcher keeps working', { skip }, async () => {
  let fail = true;
  const flaky: ClipEncoder = {
    ...counted,
    encodeTexts: (texts) => {
      if (fail) {
        fail = false;
        return Promise.reject(new Error('graph failed'));
      }
      return counted.encodeTexts(texts);
    },
  };
  const b = new QueryBatcher(flaky, 8);
  const results = await Promise.allSettled(['q1', 'q2', 'q3'].map((t) => b.encode(t)));
  assert.equal(results[0].status, 'rejected');
  assert.equal((results[0] as PromiseRejectedResult).reason.message, 'graph failed');
  assert.ok(results.slice(1).every((r) => r.status === 'fulfilled'), 'the queries queued behind it still succeed');
  assert.equal((await b.encode('q4')).length, enc.dim);
});

test('the query-text cache: one entry per model, package version and text, bounded as a whole', async () => {
  const cache = new QueryTextCache(3);
  const encoded: string[] = [];
  const encode = async (t: string) => {
    encoded.push(t);
    return Float32Array.of(t.length);
  };
  const a = { id: 'a', version: 1 };
  await cache.vector(a, 'q1', encode);
  await cache.vector(a, 'q1', encode);
  await cache.vector({ id: 'b', version: 1 }, 'q1', encode);
  await cache.vector({ id: 'a', version: 2 }, 'q1', encode);
  assert.deepEqual(encoded, ['q1', 'q1', 'q1'], 'a repeat is a hit; another model or a replaced package encodes again');
  assert.equal(cache.size, 3);
  for (const t of ['q2', 'q3', 'q4']) await cache.vector(a, t, encode);
  assert.equal(cache.size, 3, 'every model counts against the one bound');
  assert.equal((await new QueryTextCache(0).vector(a, 'q', encode)).length, 1);
});
