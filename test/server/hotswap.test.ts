import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, readlinkSync, readdirSync, renameSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { createApp, type PoisonLensServer } from '../../server/app.js';
import { indexerRuntime } from '../../server/repositories/indexer-runtime-repository.js';
import { serverWorld, serverWorkspace } from '../helpers/server-world.js';
import { harness, skipReason, TOKEN, waitFor, type Harness } from './harness.js';

const QUERIES = ['a sheep on the grass', 'a car on the road', 'a picture of a aeroplane with sky behind it'];

function swapCount(metrics: { text: string }): number {
  const m = /poisonlens_model_swaps_total (\d+)/.exec(metrics.text);
  assert.ok(m, 'the swap counter is exported');
  return Number(m[1]);
}

describe('model registry and hot swap', { skip: skipReason }, () => {
  let h: Harness;
  let server: Server;
  let agent: ReturnType<typeof request>;
  const auth = { Authorization: `Bearer ${TOKEN}` };
  before(async () => {
    h = await harness();
    // One listening server for the whole file: concurrent requests share it, as in production.
    server = createServer(h.pl.app).listen(0, '127.0.0.1');
    agent = request(server);
  });
  after(async () => {
    await new Promise((r) => server?.close(r));
    await h?.close();
  });

  test('POST /api/models/active needs the admin token', async () => {
    const none = await agent.post('/api/models/active').send({ model: h.world.poisoned });
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'admin_token_required');
    assert.match(none.headers['www-authenticate'], /Bearer/);
    for (const header of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer ', `Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN} extra`, 'Bearer ' + 'a'.repeat(600)]) {
      const res = await agent.post('/api/models/active').set('Authorization', header).send({ model: h.world.poisoned });
      assert.equal(res.status, 403, `${header.slice(0, 30)}: ${res.status}`);
      assert.equal(res.body.error.code, 'admin_token_invalid');
    }
    assert.equal((await agent.get('/api/models')).body.active, h.world.clean, 'nothing changed');
    const bad = await agent.post('/api/models/active').set(auth).send({ model: 'no-such-model' });
    assert.equal(bad.status, 404);
    assert.equal((await agent.get('/api/models')).body.active, h.world.clean);
  });

  test('a swap switches the default model; ?model= names any model per request', async () => {
    const res = await agent.post('/api/models/active').set(auth).send({ model: h.world.poisoned });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.active, h.world.poisoned);
    assert.equal(res.body.previous, h.world.clean);
    assert.equal(typeof res.body.swapMs, 'number');
    const s = await agent.get('/api/search').query({ q: QUERIES[0] });
    assert.equal(s.body.model, h.world.poisoned);
    const c = await agent.get('/api/search').query({ q: QUERIES[0], model: h.world.clean });
    assert.equal(c.body.model, h.world.clean);
    assert.equal((await agent.get('/healthz')).body.active, h.world.poisoned);
    const back = await agent.post('/api/models/active').set(auth).send({ model: h.world.clean });
    assert.equal(back.body.active, h.world.clean);
  });

  test('hot swaps under concurrent searches: no failures, no mixed-model responses, no stale model after a swap returns', async () => {
    const models = [h.world.clean, h.world.poisoned, h.world.base];
    // Reference answers per model, asked by name.
    const reference = new Map<string, unknown>();
    for (const m of models) {
      for (const q of QUERIES) {
        const r = await agent.get('/api/search').query({ q, model: m, k: 9 });
        assert.equal(r.status, 200, r.text);
        reference.set(`${m}|${q}`, r.body.results);
      }
    }
    // The models must answer differently, or the check below would prove nothing.
    assert.notDeepEqual(reference.get(`${models[0]}|${QUERIES[0]}`), reference.get(`${models[1]}|${QUERIES[0]}`));
    const swapsBefore = swapCount(await agent.get('/metrics'));

    const failures: string[] = [];
    // activeAfter[e]: the active model once e swaps have returned; pending: the target of the swap in flight.
    const activeAfter: string[] = [(await agent.get('/api/models')).body.active];
    let pending: string | null = null;
    // Searches started after the latest swap returned and answered by its model.
    let answeredSinceSwap = 0;
    let stop = false;
    const client = async (i: number) => {
      for (let n = 0; !stop; n++) {
        const q = QUERIES[(i + n) % QUERIES.length];
        const epoch = activeAfter.length - 1;
        const r = await agent.get('/api/search').query({ q, k: 9 });
        if (r.status !== 200) {
          failures.push(`${r.status} ${r.text.slice(0, 200)}`);
          continue;
        }
        if (JSON.stringify(r.body.results) !== JSON.stringify(reference.get(`${r.body.model}|${q}`))) {
          failures.push(`mixed response: model ${r.body.model} for ${q}`);
        }
        // The answering model was active at some moment while the search ran: from the last swap
        // that had returned when it started to the swap in flight when it ended.
        const allowed = new Set([...activeAfter.slice(epoch), ...(pending ? [pending] : [])]);
        if (!allowed.has(r.body.model)) failures.push(`stale: ${r.body.model} answered a search sent after the swap to ${activeAfter[epoch]} returned`);
        else if (epoch === activeAfter.length - 1 && r.body.model === activeAfter[epoch]) answeredSinceSwap++;
      }
    };
    const clients = Array.from({ length: 8 }, (_, i) => client(i));
    try {
      for (let s = 0; s < 10; s++) {
        const target = models[(s + 1) % models.length];
        pending = target;
        const r = await agent.post('/api/models/active').set(auth).send({ model: target });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.active, target);
        activeAfter.push(r.body.active);
        pending = null;
        answeredSinceSwap = 0;
        // Searches run between swaps: the next swap waits until the new model has answered one sent after this swap returned.
        await waitFor(() => answeredSinceSwap > 0 || failures.length > 0, `a search answered by ${target} after swap ${s + 1}`);
      }
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    assert.deepEqual(failures, []);
    assert.equal((await agent.get('/api/models')).body.active, activeAfter.at(-1));
    assert.equal(swapCount(await agent.get('/metrics')) - swapsBefore, 10, 'every swap changed the model and was counted');
  });

  test('concurrent swap requests are applied one at a time, in the order they arrive: the last one wins', async () => {
    const world = h.world;
    // A private app whose index opening for the poisoned model waits on a gate, so the first swap
    // holds the queue while the next two arrive; arrival is observed, not assumed.
    const { ws, dispose } = serverWorkspace(world);
    const real = indexerRuntime(ws, { threads: 1 });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let held = false;
    const runtime = {
      ...real,
      openIndex: async (...a: Parameters<typeof real.openIndex>) => {
        if (a[0].id === world.poisoned) {
          held = true;
          await gate;
        }
        return real.openIndex(...a);
      },
    };
    const pl = createApp({ workspace: ws, runtime, config: { adminToken: TOKEN, activeModel: world.clean }, log: () => undefined });
    try {
      await pl.ready();
      const asked: string[] = [];
      const activate = pl.registry.activate.bind(pl.registry);
      pl.registry.activate = (id: string) => {
        asked.push(id);
        return activate(id);
      };
      const a = request(pl.app);
      const swap = (model: string) => a.post('/api/models/active').set(auth).send({ model }).then((r) => r);
      const first = swap(world.poisoned);
      await waitFor(() => held, 'the first swap to reach the held index');
      const second = swap(world.clean);
      await waitFor(() => asked.length === 2, 'the second swap to arrive');
      const third = swap(world.base);
      await waitFor(() => asked.length === 3, 'the third swap to arrive');
      assert.deepEqual(asked, [world.poisoned, world.clean, world.base]);
      assert.equal(pl.registry.active, world.clean, 'nothing switched while the first swap is held');
      open();
      const done = await Promise.all([first, second, third]);
      assert.deepEqual(
        done.map((r) => [r.status, r.body.active, r.body.previous]),
        [[200, world.poisoned, world.clean], [200, world.clean, world.poisoned], [200, world.base, world.clean]],
        'each swap saw the one before it as the previous model',
      );
      assert.equal((await a.get('/api/models')).body.active, world.base);
    } finally {
      open();
      await pl.close();
      dispose();
    }
  });

  test('at most maxLoaded models stay loaded; a model in use is closed only after its last request', async () => {
    let lru: PoisonLensServer | null = null;
    try {
      lru = createApp({
        workspace: h.ws,
        runtime: indexerRuntime(h.ws, { threads: 1 }),
        config: { adminToken: TOKEN, activeModel: h.world.clean, maxLoaded: 2, buildOnDemand: true },
        log: () => undefined,
      });
      await lru.ready();
      const a = request(lru.app);
      assert.equal((await a.get('/api/search').query({ q: 'a car', model: h.world.poisoned })).status, 200);
      // Hold the poisoned model as a request in flight would.
      const lease = await lru.registry.acquire(h.world.poisoned);
      assert.equal((await a.get('/api/search').query({ q: 'a car', model: h.world.base })).status, 200);
      const loaded = lru.registry.loadedModels().map((m) => m.id).sort();
      assert.deepEqual(loaded, [h.world.base, h.world.clean].sort(), 'the least recently used, non-active model went');
      // The evicted model still works for the request holding it...
      const [v] = await lease.model.encoder.encodeTexts(['a sheep']);
      assert.equal(v.length, lease.model.encoder.dim);
      lease.release();
      // ...and is reloaded on demand afterwards.
      const again = await a.get('/api/search').query({ q: 'a car', model: h.world.poisoned });
      assert.equal(again.status, 200);
      assert.equal(again.body.model, h.world.poisoned);
      assert.ok(lru.registry.loadedModels().length <= 2);
      const listed = (await a.get('/api/models')).body.models;
      assert.equal(listed.filter((m: { status: { state: string } }) => m.status.state === 'loaded').length, 2);
      assert.equal((await a.get('/api/models')).body.active, h.world.clean, 'the active model is never evicted');
    } finally {
      await lru?.close();
    }
  });
});

describe('hot swap to a model without an index', { skip: skipReason }, () => {
  let h: Harness;
  before(async () => {
    // No prebuilt indexes: ready() must build the start-up model's index itself.
    h = await harness({}, { indexes: false });
  });
  after(() => h?.close());

  test('an ordinary search may not build an index; a swap builds it (with progress) before switching', async () => {
    const agent = request(h.pl.app);
    const indexPath = (m: string) => join(h.ws.indexes, m, h.world.dataset, 'test', 'index.json');
    assert.ok(existsSync(indexPath(h.world.clean)), 'start-up built the active model\'s index');
    assert.ok(!existsSync(indexPath(h.world.poisoned)));
    const refused = await agent.get('/api/search').query({ q: 'a sheep', model: h.world.poisoned });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, 'index_missing');
    assert.match(refused.body.error.message, /poisonlens index --model tiny-poisoned/);
    assert.equal((await agent.get(`/api/models/${h.world.poisoned}`)).body.status.state, 'available');

    // Searches keep being answered by the old model while the new one builds.
    let stop = false;
    const answers: Array<{ status: number; model: string }> = [];
    const load = (async () => {
      while (!stop) {
        const r = await agent.get('/api/search').query({ q: 'a car' });
        answers.push({ status: r.status, model: r.body.model });
      }
    })();
    const swap = await agent.post('/api/models/active').set('Authorization', `Bearer ${TOKEN}`).send({ model: h.world.poisoned });
    stop = true;
    await load;
    assert.equal(swap.status, 200, swap.text);
    assert.equal(swap.body.active, h.world.poisoned);
    assert.ok(existsSync(indexPath(h.world.poisoned)), 'the swap built and saved the index');
    assert.ok(answers.length > 0 && answers.every((a) => a.status === 200), JSON.stringify(answers.filter((a) => a.status !== 200)));
    assert.ok(h.logs.some((l) => /tiny-poisoned × tiny: (embed|hnsw) 9\/9/.test(l)), 'build progress was reported');
    const after = await agent.get('/api/search').query({ q: 'a sheep' });
    assert.equal(after.body.model, h.world.poisoned);
    const status = (await agent.get(`/api/models/${h.world.poisoned}`)).body.status;
    assert.equal(status.state, 'loaded');
    assert.equal(status.active, true);
    assert.deepEqual(status.indexes, [{ dataset: 'tiny', split: 'test', size: 9, kind: 'hnsw' }]);
  });
  test('a swap that joins a search\'s load of the same model (which may not build) still builds and switches', async () => {
    const agent = request(h.pl.app);
    const [search, swap] = await Promise.all([
      agent.get('/api/search').query({ q: 'a car', model: h.world.base }),
      new Promise((r) => setImmediate(r)).then(() => agent.post('/api/models/active').set('Authorization', `Bearer ${TOKEN}`).send({ model: h.world.base })),
    ]);
    assert.ok(search.status === 200 || (search.status === 409 && search.body.error.code === 'index_missing'), search.text);
    assert.equal(swap.status, 200, swap.text);
    assert.equal(swap.body.active, h.world.base);
    assert.equal((await agent.get('/api/search').query({ q: 'a car', model: h.world.base })).status, 200);
  });
});

describe('requests for a model while its index is being built', { skip: skipReason }, () => {
  test('get a quick 503 with progress and Retry-After, while the active model keeps answering', async () => {
    const world = await serverWorld();
    const { ws, dispose } = serverWorkspace(world, { indexes: false });
    // The real runtime, with a gate in front of index builds so the test can hold one open.
    const real = indexerRuntime(ws, { threads: 1 });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    // Like ensureIndex, the gated build announces itself (phase embed) before it does the work.
    const gated = {
      ...real,
      openIndex: async (...a: Parameters<typeof real.openIndex>) => {
        if (a[0].id === world.poisoned) {
          a[3].onProgress?.({ phase: 'embed', done: 0, total: 9 });
          await gate;
        }
        return real.openIndex(...a);
      },
    };
    const pl = createApp({ workspace: ws, runtime: gated, config: { adminToken: TOKEN, activeModel: world.clean }, log: () => undefined });
    try {
      await pl.ready();
      const agent = request(pl.app);
      const swap = agent.post('/api/models/active').set('Authorization', `Bearer ${TOKEN}`).send({ model: world.poisoned }).then((r) => r);
      // Wait until the encoders are loaded and the (gated) index build has begun.
      await waitFor(() => {
        const st = pl.registry.status(world.poisoned);
        return st.state === 'loading' && st.progress?.phase === 'embed';
      }, 'the swap\'s gated index build to begin');
      const busy = await agent.get('/api/search').query({ q: 'a car', model: world.poisoned });
      assert.equal(busy.status, 503, busy.text);
      assert.equal(busy.body.error.code, 'model_loading');
      assert.match(busy.body.error.message, /tiny-poisoned is loading \(embed 0\/9/);
      assert.equal(busy.headers['retry-after'], '2');
      assert.equal((await agent.get(`/api/models/${world.poisoned}`)).body.status.state, 'loading');
      const meanwhile = await agent.get('/api/search').query({ q: 'a car' });
      assert.equal(meanwhile.status, 200);
      assert.equal(meanwhile.body.model, world.clean);
      open();
      assert.equal((await swap).status, 200);
      assert.equal((await agent.get('/api/search').query({ q: 'a car' })).body.model, world.poisoned);
    } finally {
      open();
      await pl.close();
      dispose();
    }
  });
});

describe('a server started before any model exists', { skip: skipReason }, () => {
  test('adopts the first model that appears as the active one', async () => {
    const world = await serverWorld();
    const { ws, dispose } = serverWorkspace(world);
    const aside = join(ws.root, 'models-aside');
    renameSync(ws.models, aside);
    mkdirSync(ws.models);
    const pl = createApp({ workspace: ws, runtime: indexerRuntime(ws, { threads: 1 }), config: { adminToken: TOKEN }, log: () => undefined });
    try {
      assert.equal(await pl.ready(), null);
      const agent = request(pl.app);
      const none = await agent.get('/api/search').query({ q: 'a car' });
      assert.equal(none.status, 503);
      assert.equal(none.body.error.code, 'no_active_model');
      // A model package lands (as `poisonlens train` would leave it, with its index built).
      assert.ok(readdirSync(aside).includes(world.clean));
      renameSync(join(aside, world.clean), join(ws.models, world.clean));
      assert.ok(readlinkSync(join(ws.models, world.clean)));
      pl.registry.rescanModels(); // the package list is cached for a second: forget it rather than outwait it
      const found = await agent.get('/api/search').query({ q: 'a car' });
      assert.equal(found.status, 200, found.text);
      assert.equal(found.body.model, world.clean);
      assert.equal((await agent.get('/healthz')).body.active, world.clean);
    } finally {
      await pl.close();
      dispose();
    }
  });
});
