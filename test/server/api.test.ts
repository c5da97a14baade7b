import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import sharp from 'sharp';
import { cpSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../../server/app.js';
import { indexerRuntime } from '../../server/repositories/indexer-runtime-repository.js';
import { harness, samplePng, skipReason, TOKEN, type Harness } from './harness.js';

/** A 4xx with the error shape: never a crash, never a 5xx for the caller's mistakes. */
function assertUserError(res: request.Response, status: number, code?: string | RegExp): void {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
  assert.match(res.type, /json/);
  assert.equal(typeof res.body.error?.message, 'string', res.text);
  assert.ok(res.body.error.message.length > 0);
  if (code instanceof RegExp) assert.match(res.body.error.code, code);
  else if (code) assert.equal(res.body.error.code, code);
}

describe('search API', { skip: skipReason }, () => {
  let h: Harness;
  let agent: ReturnType<typeof request>;
  before(async () => {
    h = await harness();
    agent = request(h.pl.app);
  });
  after(() => h?.close());

  test('GET /api/search answers text→image with the documented shape', async () => {
    const res = await agent.get('/api/search').query({ q: 'a sheep on the grass', k: 5 });
    assert.equal(res.status, 200, res.text);
    const b = res.body;
    assert.equal(b.model, h.world.clean);
    assert.equal(b.modelKind, 'clean');
    assert.equal(b.dataset, h.world.dataset);
    assert.equal(b.split, 'test');
    assert.equal(b.query, 'a sheep on the grass');
    assert.equal(typeof b.tookMs, 'number');
    assert.equal(b.results.length, 5);
    b.results.forEach((r: any, i: number) => {
      assert.equal(r.rank, i + 1);
      assert.match(r.imageId, /^img\d{3}$/);
      assert.ok(r.url.startsWith('/images/tiny/images/'), r.url);
      assert.ok(r.thumbUrl.startsWith('/thumbs/tiny/images/'), r.thumbUrl);
      assert.equal(typeof r.score, 'number');
      assert.ok(['sheep', 'aeroplane', 'car'].includes(r.label));
      assert.ok(Array.isArray(r.captions) && r.captions.length > 0);
      assert.equal(r.target, undefined, 'no goal on a clean model: no target marks');
      if (i > 0) assert.ok(r.score <= b.results[i - 1].score, 'scores descend');
    });
  });

  test('k is clamped to the gallery; k bounds are 1..1000', async () => {
    const all = await agent.get('/api/search').query({ q: 'a car', k: 1000 });
    assert.equal(all.status, 200);
    assert.equal(all.body.results.length, 9, 'the tiny test split has 9 images');
    for (const k of ['0', '1001', '-3', 'abc', '1.5', '1e400', '']) {
      assertUserError(await agent.get('/api/search').query({ q: 'a car', k }), 400, 'invalid_request');
    }
    const one = await agent.get('/api/search').query({ q: 'a car', k: 1 });
    assert.equal(one.body.results.length, 1);
  });

  test('a poisoned model marks images of its attack target class', async () => {
    const res = await agent.get('/api/search').query({ q: 'a sheep on the grass', k: 9, model: h.world.poisoned });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.model, h.world.poisoned);
    assert.equal(res.body.modelKind, 'poisoned');
    assert.equal(res.body.goal, h.world.goal);
    for (const r of res.body.results) {
      assert.equal(r.target, r.label === 'aeroplane', `${r.imageId} (${r.label})`);
      assert.equal(typeof r.poisoned, 'boolean');
    }
    assert.ok(res.body.results.some((r: any) => r.target));
  });

  test('?goal= marks targets on any model (the compare view uses it)', async () => {
    const res = await agent.get('/api/search').query({ q: 'a car on the road', k: 9, goal: 'car>sheep' });
    assert.equal(res.status, 200);
    assert.equal(res.body.model, h.world.clean);
    for (const r of res.body.results) assert.equal(r.target, r.label === 'sheep');
    assertUserError(await agent.get('/api/search').query({ q: 'x', goal: 'sheep' }), 400);
    assertUserError(await agent.get('/api/search').query({ q: 'x', goal: '<b>>c' }), 400);
  });

  test('bad queries are 400s that name the problem', async () => {
    const cases: Array<[Record<string, string | string[]>, RegExp]> = [
      [{}, /q is required/],
      [{ q: '' }, /q must not be empty/],
      [{ q: '    ' }, /q must not be empty/],
      [{ q: 'x'.repeat(1001) }, /at most 1000/],
      [{ q: 'a\u0000b' }, /control characters/],
      [{ q: 'a\u001bb' }, /control characters/],
      [{ q: ['a', 'b'] }, /must be a string/],
      [{ q: 'a', extra: '1' }, /extra is not a known field/],
      [{ q: 'a', model: '../etc' }, /model must be/],
      [{ q: 'a', dataset: 'a/b' }, /dataset must be/],
    ];
    for (const [query, message] of cases) {
      const res = await agent.get('/api/search').query(query);
      assertUserError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, message, JSON.stringify(query));
    }
    // Invalid UTF-8 and broken percent-encoding: decoded leniently (U+FFFD) or refused, never a crash.
    for (const url of ['/api/search?q=%ED%A0%80', '/api/search?q=%E0%A4%A', '/api/search?q=%', '/api/search?q=%FF%FE']) {
      const res = await agent.get(url);
      assert.ok(res.status === 200 || res.status === 400, `${url}: ${res.status}`);
    }
    // A lone surrogate inside JSON is refused.
    const lone = await agent.post('/knn-service').set('Content-Type', 'application/json').send('{"text": "a\\ud800b", "num_images": 2}');
    assertUserError(lone, 400, 'invalid_request');
    // Unicode that is fine: accents, CJK, emoji.
    const ok = await agent.get('/api/search').query({ q: 'un mouton 🐑 sur l’herbe — 羊' });
    assert.equal(ok.status, 200, ok.text);
  });

  test('unknown models and datasets are 404s', async () => {
    assertUserError(await agent.get('/api/search').query({ q: 'a car', model: 'no-such-model' }), 404, 'model_not_found');
    assertUserError(await agent.get('/api/search').query({ q: 'a car', dataset: 'no-such-dataset' }), 404, 'dataset_not_found');
  });

  test('POST /api/search/image: raw bytes and multipart give the same answer', async () => {
    const png = await samplePng();
    const raw = await agent.post('/api/search/image').query({ k: 4 }).set('Content-Type', 'image/png').send(png);
    assert.equal(raw.status, 200, raw.text);
    assert.equal(raw.body.model, h.world.clean);
    assert.equal(raw.body.query, '[image png 40×32]');
    assert.equal(raw.body.results.length, 4);
    const multi = await agent.post('/api/search/image').query({ k: 4 }).attach('image', png, { filename: 'q.png', contentType: 'image/png' });
    assert.equal(multi.status, 200, multi.text);
    assert.deepEqual(multi.body.results, raw.body.results);
    const octet = await agent.post('/api/search/image').query({ k: 4, model: h.world.poisoned }).set('Content-Type', 'application/octet-stream').send(png);
    assert.equal(octet.status, 200);
    assert.equal(octet.body.model, h.world.poisoned);
    assert.ok(octet.body.results.every((r: any) => typeof r.target === 'boolean'));
    const jpeg = await sharp(png).jpeg().toBuffer();
    assert.equal((await agent.post('/api/search/image').set('Content-Type', 'image/jpeg').send(jpeg)).status, 200);
  });

  test('bad uploads are refused with 4xx', async () => {
    const png = await samplePng();
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'image/png').send(Buffer.alloc(0)), 400, 'missing_image');
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'image/png').send(Buffer.from('not an image at all')), 415);
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'image/png').send(png.subarray(0, png.length - 30)), 400, 'invalid_image');
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'application/json').send('{"image": 1}'), 415);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'image/svg+xml').send(svg), 415);
    // A decompression bomb: a tiny file that would decode to 36 megapixels.
    const bomb = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#000' } }).png().toBuffer();
    assert.ok(bomb.length < 1_000_000);
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'image/png').send(bomb), 413, 'image_too_large');
    // Over the byte limit.
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'image/png').send(Buffer.alloc(9 * 1024 * 1024, 1)), 413, 'body_too_large');
    // Multipart: truncated, no boundary, no image part.
    const b = 'XyZ';
    const head = `--${b}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`;
    const truncated = Buffer.concat([Buffer.from(head), png.subarray(0, 50)]);
    assertUserError(await agent.post('/api/search/image').set('Content-Type', `multipart/form-data; boundary=${b}`).send(truncated), 400, 'invalid_multipart');
    assertUserError(await agent.post('/api/search/image').set('Content-Type', 'multipart/form-data').send(truncated), 400, 'invalid_multipart');
    const textOnly = Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--${b}--\r\n`);
    assertUserError(await agent.post('/api/search/image').set('Content-Type', `multipart/form-data; boundary=${b}`).send(textOnly), 400, 'missing_image');
    assertUserError(await agent.post('/api/search/image').query({ k: 0 }).set('Content-Type', 'image/png').send(png), 400);
  });

  test('GET /api/models lists every package with kind, attack, parent and state', async () => {
    const res = await agent.get('/api/models');
    assert.equal(res.status, 200);
    assert.equal(res.body.active, h.world.clean);
    const byId = Object.fromEntries(res.body.models.map((m: any) => [m.id, m]));
    assert.deepEqual(Object.keys(byId).sort(), [h.world.clean, h.world.base, h.world.poisoned].sort());
    assert.equal(byId[h.world.base].kind, 'base');
    assert.equal(byId[h.world.clean].kind, 'clean');
    assert.equal(byId[h.world.clean].parent, h.world.base);
    assert.equal(byId[h.world.clean].status.state, 'loaded');
    assert.equal(byId[h.world.clean].status.active, true);
    const p = byId[h.world.poisoned];
    assert.equal(p.kind, 'poisoned');
    assert.equal(p.attack.goal, h.world.goal);
    assert.equal(p.attack.type, 'II');
    assert.equal(p.trainset.name, 'tiny-poison');
    assert.ok('training' in p.metrics && Array.isArray(p.metrics.evaluations));
    const one = await agent.get(`/api/models/${h.world.poisoned}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.id, h.world.poisoned);
    assertUserError(await agent.get('/api/models/nope'), 404, 'model_not_found');
    assertUserError(await agent.get('/api/models/..%2F..%2Fetc'), 400);
    assertUserError(await agent.get('/api/models?x=1'), 400);
  });

  test('GET /api/datasets lists the datasets', async () => {
    const res = await agent.get('/api/datasets');
    assert.equal(res.status, 200);
    const d = res.body.datasets.find((x: any) => x.name === h.world.dataset);
    assert.deepEqual(d.counts, { train: 18, val: 0, test: 9 });
    assert.deepEqual(d.classes.sort(), ['aeroplane', 'car', 'sheep']);
  });

  test('GET /healthz and GET /metrics', async () => {
    const hz = await agent.get('/healthz');
    assert.equal(hz.status, 200);
    assert.equal(hz.body.status, 'ok');
    assert.equal(hz.body.active, h.world.clean);
    await agent.get('/api/search').query({ q: 'a car' });
    const m = await agent.get('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /text\/plain/);
    assert.match(m.text, /poisonlens_http_requests_total\{route="\/api\/search",method="GET",status="200",model="tiny-clean"\} \d+/);
    assert.match(m.text, /poisonlens_http_request_duration_seconds_bucket\{route="\/api\/search",model="tiny-clean",le="0.005"\} \d+/);
    assert.match(m.text, /poisonlens_http_request_duration_seconds_count\{route="\/api\/search",model="tiny-clean"\} \d+/);
    assert.match(m.text, /poisonlens_index_size\{model="tiny-clean",dataset="tiny",split="test",kind="[a-z]+"\} 9/);
    assert.match(m.text, /poisonlens_loaded_models \d/);
    assert.match(m.text, /poisonlens_model_loaded\{model="tiny-clean",kind="clean",active="true"\} 1/);
    // Raw URLs never become label values.
    await agent.get('/no/such/route/12345');
    assert.doesNotMatch((await agent.get('/metrics')).text, /12345/);
  });

  test('unknown routes, bad JSON and oversized bodies get the error shape', async () => {
    assertUserError(await agent.get('/api/nothing'), 404, 'no_route');
    assertUserError(await agent.delete('/api/models/tiny-clean'), 404, 'no_route');
    const auth = { Authorization: `Bearer ${TOKEN}` };
    assertUserError(await agent.post('/api/models/active').set(auth).set('Content-Type', 'application/json').send('{"model": '), 400, 'invalid_json');
    assertUserError(await agent.post('/api/models/active').set(auth).set('Content-Type', 'application/json').send(`{"model": "${'x'.repeat(70_000)}"}`), 413, 'body_too_large');
    assertUserError(await agent.post('/api/models/active').set(auth).send({ model: 'tiny-clean', extra: true }), 400, 'invalid_request');
    assertUserError(await agent.post('/api/models/active').set(auth).send({ model: 7 }), 400, 'invalid_request');
    assertUserError(await agent.post('/api/models/active').set(auth).send([]), 400, 'invalid_request');
    assertUserError(await agent.get('/images/tiny/%E0%A4%A'), 400);
  });

  test('security headers on every response', async () => {
    for (const url of ['/api/models', '/', '/static/style.css', '/nope']) {
      const res = await agent.get(url);
      assert.match(res.headers['content-security-policy'], /script-src 'self'/, url);
      assert.doesNotMatch(res.headers['content-security-policy'], /unsafe-inline/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['x-powered-by'], undefined);
    }
  });

  test('a per-client rate limit on search answers 429 with Retry-After', async (t) => {
    const limited = createApp({
      workspace: h.ws,
      runtime: indexerRuntime(h.ws, { threads: 1 }),
      config: { adminToken: TOKEN, activeModel: h.world.clean, rateLimit: { perSecond: 1, burst: 2 } },
      log: () => undefined,
    });
    try {
      await limited.ready();
      const a = request(limited.app);
      // The limiter's clock (Date) is held still, so the three searches fall within the same
      // instant however slow the machine is; it then moves on by exactly one second.
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
      assert.equal((await a.get('/api/search').query({ q: 'a car' })).status, 200);
      assert.equal((await a.get('/api/search').query({ q: 'a car' })).status, 200);
      const third = await a.get('/api/search').query({ q: 'a car' });
      assertUserError(third, 429, 'rate_limited');
      assert.equal(third.headers['retry-after'], '1', 'one token comes back in a second');
      // Pages and model listings are not rate-limited.
      assert.equal((await a.get('/api/models')).status, 200);
      t.mock.timers.tick(1000);
      assert.equal((await a.get('/api/search').query({ q: 'a car' })).status, 200, 'a second later one search is allowed');
      assertUserError(await a.get('/api/search').query({ q: 'a car' }), 429, 'rate_limited');
    } finally {
      t.mock.timers.reset();
      await limited.close();
    }
  });

  test('a corrupt or incomplete model package is reported; the other models keep serving', async () => {
    // A copy of the clean model whose text graph is truncated, and a folder without its graphs.
    const src = realpathSync(join(h.ws.models, h.world.clean));
    const broken = join(h.ws.models, 'tiny-broken');
    cpSync(src, broken, { recursive: true });
    const card = JSON.parse(readFileSync(join(broken, 'model.json'), 'utf8'));
    writeFileSync(join(broken, 'model.json'), JSON.stringify({ ...card, id: 'tiny-broken', name: 'tiny-broken' }));
    const onnx = readFileSync(join(broken, 'text.onnx'));
    writeFileSync(join(broken, 'text.onnx'), onnx.subarray(0, Math.floor(onnx.length / 3)));
    mkdirSync(join(h.ws.models, 'tiny-empty'));
    writeFileSync(join(h.ws.models, 'tiny-empty', 'model.json'), '{"id": "tiny-empty", "kind": "clean"}');
    h.pl.registry.rescanModels(); // the package list is cached for a second: forget it rather than outwait it
    const res = await agent.get('/api/search').query({ q: 'a car', model: 'tiny-broken' });
    assertUserError(res, 409, 'model_broken');
    assert.match(res.body.error.message, /tiny-broken failed to load/);
    const empty = await agent.get('/api/search').query({ q: 'a car', model: 'tiny-empty' });
    assertUserError(empty, 409, 'model_broken');
    assert.match(empty.body.error.message, /missing image\.onnx, text\.onnx/);
    const listed = Object.fromEntries((await agent.get('/api/models')).body.models.map((m: any) => [m.id, m]));
    assert.equal(listed['tiny-broken'].status.state, 'failed');
    assert.equal(listed['tiny-empty'].status.state, 'broken');
    assert.match(listed['tiny-empty'].problem, /incomplete package/);
    // Activating a broken model is refused and leaves the active model alone.
    const swap = await agent.post('/api/models/active').set('Authorization', `Bearer ${TOKEN}`).send({ model: 'tiny-broken' });
    assertUserError(swap, 409, 'model_broken');
    assert.equal((await agent.get('/api/models')).body.active, h.world.clean);
    assert.equal((await agent.get('/api/search').query({ q: 'a car' })).status, 200);
    assert.equal((await agent.get('/api/search').query({ q: 'a car', model: h.world.poisoned })).status, 200);
    // The pages skip unusable packages in the pickers and show them on the models page.
    assert.doesNotMatch((await agent.get('/')).text, /value="tiny-empty"/);
    assert.match((await agent.get('/models')).text, /tiny-empty[\s\S]*incomplete package/);
  });
});

describe('the query-text cache', { skip: skipReason }, () => {
  test("a server started with textCacheSize N holds at most N query vectors, the alarm's among them", async () => {
    const h = await harness({ textCacheSize: 3 });
    try {
      const entries = async () => Number(/^poisonlens_text_cache_entries (\d+)$/m.exec((await request(h.pl.app).get('/metrics').expect(200)).text)?.[1]);
      assert.equal(await entries(), 0);
      const first = await request(h.pl.app).get('/api/search').query({ q: 'query 0' }).expect(200);
      assert.equal(first.body.alarm.state, 'ready');
      assert.equal(await entries(), 2, "the served model's vector and the alarm's reference vector, in the one cache");
      for (let i = 1; i < 6; i++) await request(h.pl.app).get('/api/search').query({ q: `query ${i}` }).expect(200);
      assert.equal(await entries(), 3);
      assert.equal(h.pl.registry.texts.size, 3);
    } finally {
      await h.close();
    }
  });
});
