/**
 * Hot swaps, searches (text and image, default and named model) and attack evaluations all at
 * once against one listening server over real models, with room for only two of the three
 * models in memory (so the LRU evicts while requests are in flight). Every request must
 * succeed, every answer must be exactly the answer its declared model gives alone (no response
 * mixes one model's query embedding with another model's gallery), and a search sent after a
 * swap returned is answered by the new model. Each swap waits until that has happened once,
 * so searches and swaps interleave by construction, not by timing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { harness, samplePng, skipReason, TOKEN, waitFor, type Harness } from '../server/harness.js';

const SWAPS = 12;
/** A short pause between one client's requests keeps the machine (2 shared cores in CI) responsive. */
const pause = () => new Promise((r) => setTimeout(r, 10));
const QUERIES = ['a sheep on the grass', 'a car on the road', 'a picture of a aeroplane with sky behind it', 'two dogs', 'a red bus'];

interface Answer {
  status: number;
  json: { model?: string; results?: Array<{ imageId: string; score: number }>; error?: { code: string; message: string }; [k: string]: unknown };
}

function call(port: number, agent: Agent, method: string, path: string, body?: Buffer | object, headers: Record<string, string> = {}): Promise<Answer> {
  const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const h: Record<string, string | number> = { ...headers };
  if (data) {
    h['content-length'] = data.length;
    h['content-type'] ??= Buffer.isBuffer(body) ? 'image/png' : 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch {
          reject(new Error(`${method} ${path}: ${res.statusCode} not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(120_000, () => req.destroy(new Error('timed out')));
    req.end(data);
  });
}

/** The part of a search answer that depends on the model: ids and scores in rank order. */
function fingerprint(a: Answer): string {
  return (a.json.results ?? []).map((r) => `${r.imageId}:${r.score.toFixed(4)}`).join(',');
}

describe('concurrency: hot swaps, searches and evaluations at once', { skip: skipReason }, () => {
  let h: Harness;
  let server: Server;
  let port = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  before(async () => {
    h = await harness({ maxLoaded: 2, rateLimit: { perSecond: 0, burst: 1 } });
    server = createServer(h.pl.app);
    // A pooled keep-alive socket can sit idle while a swap waits for its first answer; a server
    // closing it (5 s by default) just as the client reuses it resets that request, a race of the
    // client's pool that this test is not about.
    server.keepAliveTimeout = 600_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    agent.destroy();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await h?.close();
  });

  test('no failed requests, no mixed-model answers, no stale model after a swap returns', { timeout: 240_000 }, async () => {
    const { world } = h;
    const models = [world.clean, world.poisoned, world.base];
    const auth = { authorization: `Bearer ${TOKEN}` };
    const png = await samplePng();
    const q = (text: string, model?: string) => `/api/search?q=${encodeURIComponent(text)}&k=8${model ? `&model=${model}` : ''}`;

    // References: each model alone, one request at a time.
    const ref = new Map<string, string>();
    for (const m of models) {
      for (const text of QUERIES) {
        const a = await call(port, agent, 'GET', q(text, m));
        assert.equal(a.status, 200, JSON.stringify(a.json));
        ref.set(`${m}|${text}`, fingerprint(a));
      }
      const img = await call(port, agent, 'POST', `/api/search/image?k=8&model=${m}`, png);
      assert.equal(img.status, 200, JSON.stringify(img.json));
      ref.set(`${m}|image`, fingerprint(img));
    }
    // The models really differ, or the test would prove nothing.
    assert.notEqual(ref.get(`${world.clean}|${QUERIES[0]}`), ref.get(`${world.base}|${QUERIES[0]}`));
    const evalBody = (m: string) => ({ model: m, dataset: world.dataset, attack: 'II', goal: world.goal, k: [1, 5, 10], mode: 'ann' });
    const evalRef = new Map<string, string>();
    for (const m of [world.poisoned, world.clean]) {
      const a = await call(port, agent, 'POST', '/api/eval', evalBody(m));
      assert.equal(a.status, 200, JSON.stringify(a.json));
      evalRef.set(m, JSON.stringify((a.json.goals as unknown[])[0]));
    }

    const failures: string[] = [];
    const counts = { swaps: 0, searches: 0, images: 0, evals: 0 };
    let stop = false;
    // activeAfter[e]: the active model once e swaps have returned; pending: the swap in flight.
    const activeAfter: string[] = [(await call(port, agent, 'GET', '/healthz')).json.active as string];
    let pending: string | null = null;
    // Searches of the active model sent after the latest swap returned and answered by its model.
    let answeredSinceSwap = 0;
    /** A search of the active model (no ?model=) sent at `epoch` may be answered by any model active while it ran. */
    const checkActive = (what: string, a: Answer, epoch: number) => {
      const allowed = new Set([...activeAfter.slice(epoch), ...(pending ? [pending] : [])]);
      if (!allowed.has(a.json.model as string)) failures.push(`${what}: stale model ${a.json.model}, sent after the swap to ${activeAfter[epoch]} returned`);
      else if (epoch === activeAfter.length - 1 && a.json.model === activeAfter[epoch]) answeredSinceSwap++;
    };
    const check = (what: string, a: Answer, expectModel?: string) => {
      if (a.status !== 200) return failures.push(`${what}: ${a.status} ${JSON.stringify(a.json).slice(0, 300)}`);
      const m = a.json.model;
      if (typeof m !== 'string' || !models.includes(m)) return failures.push(`${what}: answer names model ${m}`);
      if (expectModel && m !== expectModel) return failures.push(`${what}: asked for ${expectModel}, answered by ${m}`);
      return 0;
    };

    const swapper = async () => {
      for (let i = 0; i < SWAPS; i++) {
        const m = models[i % models.length];
        pending = m;
        const a = await call(port, agent, 'POST', '/api/models/active', { model: m }, auth);
        counts.swaps++;
        if (a.status !== 200 || a.json.active !== m) failures.push(`swap to ${m}: ${a.status} ${JSON.stringify(a.json).slice(0, 300)}`);
        activeAfter.push(m);
        pending = null;
        answeredSinceSwap = 0;
        await waitFor(() => answeredSinceSwap > 0 || failures.length > 0, `a search answered by ${m} after swap ${i + 1}`, 120_000);
      }
    };
    const searcher = async (id: number) => {
      for (let i = 0; !stop; i++) {
        const text = QUERIES[(i + id) % QUERIES.length];
        const named = (i + id) % 3 === 0 ? models[(i + id) % models.length] : undefined;
        await pause();
        const epoch = activeAfter.length - 1;
        const a = await call(port, agent, 'GET', q(text, named));
        counts.searches++;
        if (check(`search ${text} ${named ?? '(active)'}`, a, named)) continue;
        if (fingerprint(a) !== ref.get(`${a.json.model}|${text}`)) failures.push(`search "${text}" answered as ${a.json.model} but its results are not that model's`);
        if (!named) checkActive(`search ${text}`, a, epoch);
      }
    };
    const imager = async () => {
      for (let i = 0; !stop; i++) {
        const named = i % 2 === 0 ? models[i % models.length] : undefined;
        await pause();
        const epoch = activeAfter.length - 1;
        const a = await call(port, agent, 'POST', `/api/search/image?k=8${named ? `&model=${named}` : ''}`, png);
        counts.images++;
        if (check(`image search ${named ?? '(active)'}`, a, named)) continue;
        if (fingerprint(a) !== ref.get(`${a.json.model}|image`)) failures.push(`image search answered as ${a.json.model} but its results are not that model's`);
        if (!named) checkActive('image search', a, epoch);
      }
    };
    const evaluator = async (m: string) => {
      // At least one evaluation each, started with the swaps: evaluations always overlap them.
      for (let i = 0; i === 0 || !stop; i++) {
        const a = await call(port, agent, 'POST', '/api/eval', evalBody(m));
        counts.evals++;
        if (check(`eval ${m}`, a, m)) continue;
        if (JSON.stringify((a.json.goals as unknown[])[0]) !== evalRef.get(m)) failures.push(`eval of ${m} differs from the one run alone`);
      }
    };

    const others = [...[0, 1, 2, 3, 4, 5].map(searcher), imager(), imager(), evaluator(world.poisoned), evaluator(world.clean)];
    try {
      await swapper();
    } finally {
      stop = true;
      // Every client finishes before the test ends, failed or not (no request outlives the server).
      const settled = await Promise.allSettled(others);
      const thrown = settled.find((r) => r.status === 'rejected');
      if (thrown) throw (thrown as PromiseRejectedResult).reason;
    }
    const loads = h.logs.map((l) => Number(/loaded in (\d+) ms/.exec(l)?.[1])).filter((n) => n >= 0);
    console.log(`concurrency: ${loads.length} model loads (slowest ${Math.max(...loads)} ms); ${counts.swaps} swaps, ${counts.searches} text searches, ${counts.images} image searches, ${counts.evals} evaluations at once; ${failures.length} failures`);
    assert.deepEqual(failures.slice(0, 20), []);
    assert.deepEqual(h.logs.filter((l) => /failed:/.test(l)), []);
    // Afterwards the last swap holds, and at most two models are in memory.
    const hz = await call(port, agent, 'GET', '/healthz');
    assert.equal(hz.json.active, models[(SWAPS - 1) % models.length]);
    assert.ok((hz.json.loaded as string[]).length <= 2, JSON.stringify(hz.json.loaded));
  });
});
