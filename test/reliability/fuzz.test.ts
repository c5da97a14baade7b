/**
 * Hostile input across every route: a seeded generator sends thousands of malformed requests
 * (random bytes, huge and non-finite numbers, wrong JSON types, unicode edge cases, broken
 * percent-encoding, truncated multipart, decompression bombs, oversize bodies, bad methods and
 * headers, and garbage on raw sockets) to the real app over real models, listening on 127.0.0.1.
 * No answer may be a 5xx (the one documented 503, model_loading while an index builds, cannot
 * happen here: every model's index exists), every error answer — also those Node's parser gives
 * (headers over 16 KiB, broken framing) — is the JSON error object, the server must give the
 * same answers to fixed probe queries afterwards as before, and its memory must stay bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { deflateSync } from 'node:zlib';
import { Rng } from '../../core/random.js';
import { answerClientErrors } from '../../server/http/client-errors.js';
import { harness, samplePng, skipReason, TOKEN, type Harness } from '../server/harness.js';
import { parseRaw } from '../server/raw-http.js';

const SEED = 20231;
/** Requests through HTTP (plus RAW_COUNT raw-socket cases). */
const COUNT = 5200;
const RAW_COUNT = 300;
const CONCURRENCY = 12;

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** Strings that break naive code: controls, lone surrogates, RTL, zero-width, huge, NUL, emoji, combining marks. */
const NASTY = [
  '', ' ', '\u0000', '\u0007bell', 'a\u0000b', '\ud800', '\udc00x', 'x\ud83d', '\ufffe', '\uffff', '\u202eevil', '\u200b\u200b', 'e\u0301\u0301\u0301',
  '🐑'.repeat(600), '羊'.repeat(1001), 'a'.repeat(1000), 'a'.repeat(1001), 'a'.repeat(20000), '<script>alert(1)</script>', '"; DROP TABLE models; --',
  '../../etc/passwd', '..%2f..%2f', '%00', '%', '%E0%A4%A', '%ED%A0%80', '%FF%FE', '${jndi:ldap://x}', '{{7*7}}', '\r\nX-Injected: 1', '\\\\server\\share',
  'null', 'undefined', 'NaN', 'Infinity', '-0', '1e309', '0x10', '1_000', ' 5 ', '+5', '5.', '.5', '9'.repeat(400),
];
const NUMBERS: unknown[] = [0, -1, 1, 1.5, 1000, 1001, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MAX_VALUE, Number.MIN_VALUE, '1e309', '-1e309', 'NaN', 'Infinity', '1', '10', 'abc', '', null, true, [], {}, [1], { a: 1 }];

function rand(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

function randomUnicode(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(NASTY);
  let s = '';
  const n = rng.int(0, 40);
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    const cp = r < 0.5 ? rng.int(0x20, 0x7e) : r < 0.7 ? rng.int(0, 0x1f) : r < 0.85 ? rng.int(0x80, 0xffff) : rng.int(0x10000, 0x10ffff);
    s += String.fromCodePoint(cp);
  }
  return s;
}

function randomValue(rng: Rng, depth = 0): unknown {
  const r = rng.int(0, depth > 2 ? 3 : 6);
  switch (r) {
    case 0: return rng.pick(NUMBERS);
    case 1: return randomUnicode(rng);
    case 2: return rng.chance(0.5);
    case 3: return null;
    case 4: return Array.from({ length: rng.int(0, 5) }, () => randomValue(rng, depth + 1));
    case 5: return Object.fromEntries(Array.from({ length: rng.int(0, 4) }, () => [randomUnicode(rng).slice(0, 20), randomValue(rng, depth + 1)]));
    default: return rng.chance(0.5) ? '__proto__' : { __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } };
  }
}

/** Percent-encodes any string; a lone surrogate (not encodable as UTF-8) becomes the raw bytes of one. */
function pct(s: string, raw = false): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) out += '%ED%A0%80';
    else if (raw && c > 0x20 && c < 0x7f && ch !== '#' && ch !== '&' && ch !== '=') out += ch; // '%' stays: broken encodings
    else out += encodeURIComponent(ch);
  }
  return out;
}

/** Query string with random keys/values, sometimes raw (unencoded, broken encodings), sometimes repeated keys. */
function randomQuery(rng: Rng, keys: string[]): string {
  const parts: string[] = [];
  const n = rng.int(0, 5);
  for (let i = 0; i < n; i++) {
    const key = rng.chance(0.8) ? rng.pick(keys) : randomUnicode(rng).slice(0, 10);
    const raw = rng.chance(0.3);
    const v = rng.chance(0.3) ? String(rng.pick(NUMBERS)) : randomUnicode(rng);
    parts.push(rng.chance(0.1) ? `${pct(key)}[]=${pct(v.slice(0, 5))}` : `${pct(key, raw)}=${pct(v, raw)}`);
    if (rng.chance(0.1)) parts.push(parts[parts.length - 1]); // the same key twice: an array
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** A PNG header claiming `w`×`h` pixels (a decompression bomb's shape), with a tiny body. */
function pngClaiming(w: number, h: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
}

function multipart(rng: Rng, image: Buffer): { body: Buffer; type: string } {
  const boundary = rng.chance(0.8) ? `----pl${rng.int(0, 1e9)}` : randomUnicode(rng).slice(0, 80);
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${rng.pick(['image', 'file', 'other', '"'])}"; filename="${rng.pick(['q.png', '../../x', '', '\u0000'])}"\r\nContent-Type: image/png\r\n\r\n`, 'latin1');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  let body = Buffer.concat([head, image, tail]);
  const cut = rng.int(0, 5);
  if (cut === 0) body = body.subarray(0, rng.int(0, body.length)); // truncated anywhere
  else if (cut === 1) body = Buffer.concat([head, image]); // no closing delimiter
  else if (cut === 2) body = Buffer.concat([Buffer.from(`--${boundary}\r\n`), rand(rng, 200)]);
  else if (cut === 3) body = Buffer.concat(Array.from({ length: 300 }, () => Buffer.from(`--${boundary}\r\n\r\nx\r\n`)));
  const type = rng.pick([`multipart/form-data; boundary=${boundary}`, 'multipart/form-data', `multipart/form-data; boundary="${boundary}"`, 'multipart/form-data; boundary=']);
  return { body, type: type.replace(/[^\x20-\x7e]/g, '?') };
}

function generate(rng: Rng, ctx: { png: Buffer; models: string[]; dataset: string; imageFile: string }): Sent {
  const name = () => (rng.chance(0.3) ? rng.pick(ctx.models) : rng.chance(0.5) ? ctx.dataset : randomUnicode(rng));
  const json = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null');
  const jsonType = { 'content-type': rng.pick(['application/json', 'text/plain', 'application/json; charset=utf-16', 'application/json; charset=latin1', '']) };
  const bodyOf = (shape: Record<string, () => unknown>): Buffer => {
    const r = rng.int(0, 9);
    if (r === 0) return rand(rng, rng.int(0, 300));
    if (r === 1) return Buffer.from(JSON.stringify({ a: 1 }).slice(0, rng.int(0, 6))); // truncated JSON
    if (r === 2) return json(randomValue(rng));
    if (r === 3) return Buffer.from('['.repeat(5000)); // deep nesting
    const o: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(shape)) if (rng.chance(0.7)) o[k] = rng.chance(0.6) ? f() : randomValue(rng);
    if (rng.chance(0.2)) o[randomUnicode(rng).slice(0, 8)] = randomValue(rng);
    return json(o);
  };
  switch (rng.int(0, 17)) {
    case 0:
    case 1:
    case 2:
      return { method: 'GET', path: `/api/search${randomQuery(rng, ['q', 'k', 'model', 'dataset', 'goal'])}`, headers: {} };
    case 3: {
      // Mostly well-formed apart from one field, so deep code runs.
      const q = new URLSearchParams({ q: rng.chance(0.5) ? 'a sheep on the grass' : randomUnicode(rng).replace(/[\ud800-\udfff]/g, '') || 'x' });
      const field = rng.pick(['k', 'model', 'dataset', 'goal']);
      q.set(field, field === 'k' ? String(rng.pick(NUMBERS)) : field === 'model' || field === 'dataset' ? String(name()).replace(/[\ud800-\udfff]/g, '') : rng.pick(['sheep>aeroplane', 'a>', '>b', 'x'.repeat(600), 'sheep>aeroplane,car>dog']));
      return { method: 'GET', path: `/api/search?${q}`, headers: {} };
    }
    case 4:
    case 5: {
      const r = rng.int(0, 8);
      let body: Buffer;
      let type = rng.pick(['image/png', 'application/octet-stream', 'image/jpeg', '']);
      if (r === 0) body = rand(rng, rng.int(0, 5000));
      else if (r === 1) body = ctx.png.subarray(0, rng.int(0, ctx.png.length - 1)); // truncated PNG
      else if (r === 2) body = pngClaiming(rng.pick([30000, 100000, 0, 1, 2 ** 31 - 1]), rng.pick([30000, 100000, 0, 1, 2 ** 31 - 1]));
      else if (r === 3) ({ body, type } = multipart(rng, rng.chance(0.5) ? ctx.png : rand(rng, 100)));
      else if (r === 4) body = Buffer.from('GIF89a' + 'x'.repeat(rng.int(0, 50)));
      else if (r === 5) body = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"><rect/></svg>');
      else if (r === 6) {
        body = Buffer.from(ctx.png);
        body[rng.int(8, body.length - 1)] ^= 0xff; // one flipped byte
      } else if (r === 7) {
        body = Buffer.from('{}');
        type = rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);
      } else body = Buffer.alloc(0);
      return { method: 'POST', path: `/api/search/image${randomQuery(rng, ['k', 'model', 'dataset', 'goal'])}`, headers: type ? { 'content-type': type } : {}, body };
    }
    case 6: {
      const id = rng.chance(0.5) ? pct(String(name())) : rng.pick(['..', '%2e%2e', '%00', '%', 'a%2Fb', '.', '-x']);
      return { method: 'GET', path: `/api/models/${id}${rng.chance(0.2) ? randomQuery(rng, ['x']) : ''}`, headers: {} };
    }
    case 7: {
      // Hot swap: mostly without or with a wrong token; with the right one only malformed bodies.
      const auth = rng.pick(['', `Bearer ${TOKEN}x`, 'Bearer', 'Basic YQ==', `Bearer ${'a'.repeat(2000)}`, `Bearer ${TOKEN}`]);
      const body = auth === `Bearer ${TOKEN}`
        ? rng.pick([json({ model: randomUnicode(rng) }), json({ model: rng.pick(NUMBERS) }), json({ model: 'no-such-model-x' }), json({ model: ctx.models[0], extra: 1 }), rand(rng, 40), Buffer.from('{"model":')])
        : bodyOf({ model: name });
      return { method: 'POST', path: '/api/models/active', headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' }, body };
    }
    case 8:
      return {
        method: 'POST',
        path: '/api/eval',
        headers: { 'content-type': 'application/json' },
        // Never a whole valid request (an evaluation embeds a whole split): always one bad field.
        body: bodyOf({ model: name, dataset: name, attack: () => rng.pick(['I', 'II', 'III', 'IV', '']), goal: () => rng.pick(['sheep>aeroplane', '>', 'x'.repeat(600)]), k: () => rng.pick([[1, 5], [0], [1e9], Array(50).fill(1), 'x']), mode: () => rng.pick(['ann', 'exact', 'fast']), bogus: () => 1 }),
      };
    case 9:
    case 10:
      return {
        method: 'POST',
        path: '/knn-service',
        headers: jsonType,
        body: bodyOf({
          text: () => randomUnicode(rng),
          image: () => rng.pick(['', 'data:image/png;base64,' + ctx.png.toString('base64').slice(0, rng.int(0, 200)), '!!!', rand(rng, 30).toString('base64'), 'data:image/png;base64,' + pngClaiming(50000, 50000).toString('base64')]),
          image_url: () => rng.pick(['http://127.0.0.1:1/x.png', 'file:///etc/passwd', 'x'.repeat(5000)]),
          embedding_input: () => rng.pick([[], [1, 2], Array(5000).fill(0.1), Array(4).fill('x'), [1e308, -1e308]]),
          modality: () => rng.pick(['image', 'text', 'audio']),
          num_images: () => rng.pick(NUMBERS),
          num_result_ids: () => rng.pick(NUMBERS),
          indice_name: () => rng.pick([`${ctx.models[0]}/${ctx.dataset}`, '../x', 'a/b/c', randomUnicode(rng)]),
          deduplicate: () => rng.pick(NUMBERS),
          aesthetic_score: () => rng.pick(['', null, '9', 'x']),
        }),
      };
    case 11:
      return {
        method: 'POST',
        path: '/metadata',
        headers: jsonType,
        body: bodyOf({ ids: () => rng.pick([[], [0, 1, 2], [-1], [2 ** 40], Array(20000).fill(1), ['x'], [1.5]]), indice_name: () => rng.pick([ctx.models[0], '..', randomUnicode(rng)]) }),
      };
    case 12: {
      const prefix = rng.pick(['/images', '/thumbs']);
      const ds = rng.chance(0.6) ? ctx.dataset : rng.pick(['..', '%2e%2e', 'no-such', '%00', '.', '%']);
      const file = rng.pick([ctx.imageFile, `../${ctx.imageFile}`, '..%2f..%2fdataset.json', '%2e%2e/%2e%2e/etc/passwd', '/etc/passwd', 'images/%00.png', 'images/', 'manifest.jsonl', 'images/..', pct(randomUnicode(rng)), '%C0%AE%C0%AE/x', 'images\\..\\..\\x']);
      return { method: 'GET', path: `${prefix}/${ds}/${file}`, headers: {} };
    }
    case 13: {
      const page = rng.pick(['/', '/compare', '/models', '/experiments/x', `/experiments/${pct(randomUnicode(rng))}`, '/healthz', '/metrics', '/indices-list', '/api/build']);
      return { method: 'GET', path: page + randomQuery(rng, ['q', 'k', 'model', 'models', 'dataset', 'goal']), headers: { accept: rng.pick(['text/html', 'application/json', '*/*', '']) } };
    }
    case 14: {
      const method = rng.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'POST', 'GET']);
      const path = rng.pick(['/api/search', '/api/models', '/api/models/active', '/api/datasets', '/knn-service', '/metadata', '/indices-list', '/', '/static/../package.json', '/static/%2e%2e/%2e%2e/package.json', '/static/app.js', '/nope', '//', '/api/search/image']);
      return { method, path: path + randomQuery(rng, ['q']), headers: { 'content-type': 'application/json' }, body: method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? undefined : rand(rng, rng.int(0, 100)) };
    }
    case 15: {
      // Headers that lie: compressed bodies that are not, odd charsets, wrong lengths handled by the client.
      const enc = rng.pick(['gzip', 'deflate', 'br', 'identity', 'x-unknown']);
      const path = rng.pick(['/knn-service', '/api/models/active', '/api/eval', '/metadata', '/api/search/image']);
      return { method: 'POST', path, headers: { 'content-type': rng.pick(['application/json', 'application/json; charset=koi8-r', 'image/png']), 'content-encoding': enc, authorization: `Bearer ${TOKEN}` }, body: rand(rng, rng.int(1, 200)) };
    }
    case 16:
      return { method: 'GET', path: `/api/datasets${randomQuery(rng, ['x'])}`, headers: {} };
    default: {
      // Oversize JSON for the small-body routes (the 64 KiB limit), cheap to send.
      const path = rng.pick(['/api/models/active', '/api/eval']);
      return { method: 'POST', path, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: Buffer.from(JSON.stringify({ model: 'x'.repeat(70 * 1024) })) };
    }
  }
}

/** Raw bytes on a socket: broken request lines, huge headers, lying lengths, half requests. */
function rawCase(rng: Rng): Buffer {
  switch (rng.int(0, 7)) {
    case 0: return rand(rng, rng.int(1, 500));
    case 1: return Buffer.from(`GET /api/search?q=${'a'.repeat(rng.int(1, 100))} HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20000)}\r\n\r\n`);
    case 2: return Buffer.from(`POST /knn-service HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"text": "a`); // body cut short
    case 3: return Buffer.from(`POST /api/search/image HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n`);
    case 4: return Buffer.from(`GET /api/search?q=a\u0000b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1');
    case 5: return Buffer.from(`POST /api/models/active HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{"a":1}`);
    case 6: return Buffer.from(`GET /api/search?q=sheep HTTP/1.1\r\nHost: 127.0.0.1\r\n` + 'X: y\r\n'.repeat(3000) + '\r\n');
    default: return Buffer.from(`GET /${'%'.repeat(rng.int(1, 3))}${'é'.repeat(rng.int(0, 3))} HTTP/1.1\r\nHost: [::1\r\n\r\n`, 'latin1');
  }
}

function send(port: number, agent: Agent, r: Sent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body) headers['content-length'] = r.body.length;
    const req = httpRequest({ host: '127.0.0.1', port, method: r.method, path: r.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 2000) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
    req.end(r.body);
  });
}

function sendRaw(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
    s.setTimeout(3000, () => s.destroy());
    s.write(bytes, () => s.end());
  });
}

describe('fuzz: thousands of malformed requests', { skip: skipReason }, () => {
  let h: Harness;
  let server: Server;
  let port = 0;
  before(async () => {
    // The rate limit off: every request reaches the code under test (a 429 would also be fine).
    h = await harness({ rateLimit: { perSecond: 0, burst: 1 } });
    // As `poisonlens serve` builds it (cli/serve-command.ts): parser-level rejections answer JSON too.
    server = answerClientErrors(createServer(h.pl.app));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await h?.close();
  });

  test(`${COUNT} generated requests and ${RAW_COUNT} raw-socket cases: no 5xx, still serving, bounded memory`, { timeout: 180_000 }, async () => {
    const png = await samplePng();
    const ds = h.pl.registry;
    void ds;
    const manifest = (await import('node:fs')).readFileSync((await import('node:path')).join(h.ws.datasets, h.world.dataset, 'manifest.jsonl'), 'utf8');
    const imageFile = encodeURI(JSON.parse(manifest.split('\n')[0]).file as string);
    const ctx = { png, models: [h.world.clean, h.world.poisoned, h.world.base], dataset: h.world.dataset, imageFile };
    const rng = new Rng(SEED);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const statuses = new Map<number, number>();
    const fivexx: string[] = [];
    let nonJsonErrors = 0;
    const nonJsonSamples: string[] = [];
    /** Fixed probes (text queries on every model, an image query on the active one): ids and scores in rank order. */
    const probes = async () => {
      const out: Record<string, string[]> = {};
      const ask = async (key: string, r: Sent) => {
        const res = await send(port, agent, r);
        assert.equal(res.status, 200, `${key}: ${res.body}`);
        const body = JSON.parse(res.body) as { model: string; results: Array<{ imageId: string; score: number }> };
        assert.equal(body.results.length, 5, key);
        out[key] = [body.model, ...body.results.map((x) => `${x.imageId}:${x.score.toFixed(6)}`)];
      };
      for (const m of ctx.models) {
        for (const q of ['a sheep on the grass', 'a car on the road', 'a picture of a aeroplane with sky behind it']) {
          await ask(`${m}|${q}`, { method: 'GET', path: `/api/search?q=${encodeURIComponent(q)}&k=5&model=${m}`, headers: {} });
        }
      }
      await ask('image', { method: 'POST', path: '/api/search/image?k=5', headers: { 'content-type': 'image/png' }, body: png });
      return out;
    };
    const before = await probes();
    // The probes tell the models apart, or comparing them afterwards would prove little.
    assert.notDeepEqual(before[`${ctx.models[0]}|a sheep on the grass`].slice(1), before[`${ctx.models[2]}|a sheep on the grass`].slice(1));
    const t0 = Date.now();
    // Warm-up before the memory baseline: caches (thumbnails, text) and lazy modules fill first.
    const requests = Array.from({ length: COUNT }, () => generate(rng, ctx));
    // A few big bodies, over the 8 MiB image limit and over the clip JSON limit.
    for (let i = 0; i < 4; i++) requests.splice(rng.int(0, requests.length), 0, { method: 'POST', path: '/api/search/image', headers: { 'content-type': 'image/png' }, body: Buffer.alloc(9 * 1024 * 1024 + i, 7) });
    for (let i = 0; i < 2; i++) requests.splice(rng.int(0, requests.length), 0, { method: 'POST', path: '/knn-service', headers: { 'content-type': 'application/json' }, body: Buffer.from(`{"text":"${'a'.repeat(13 * 1024 * 1024)}"}`) });
    let next = 0;
    let baseline = 0;
    let peakRss = 0;
    const record = (r: Sent, res: { status: number; body: string }) => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) fivexx.push(`${res.status} ${r.method} ${r.path.slice(0, 200)} → ${res.body.slice(0, 300)}`);
      // The JSON API answers errors as {"error": {code, message}}, also when Node's parser refuses
      // the request (431: headers or URL over 16 KiB; the clientError handler).
      const api = /^\/(api\/|knn-service|metadata|indices-list|healthz|metrics)/.test(r.path);
      if ((api || res.status === 431) && res.status >= 400 && r.method !== 'HEAD') {
        try {
          const e = JSON.parse(res.body);
          if (typeof e?.error?.code !== 'string' || typeof e?.error?.message !== 'string') throw new Error('not an error body');
        } catch {
          nonJsonErrors++;
          if (nonJsonSamples.length < 10) nonJsonSamples.push(`${res.status} ${r.method} ${r.path.slice(0, 100)} ${JSON.stringify(r.headers).slice(0, 100)} → ${res.body.slice(0, 100)}`);
        }
      }
    };
    const worker = async () => {
      while (next < requests.length) {
        const i = next++;
        const r = requests[i];
        let res: { status: number; body: string };
        try {
          res = await send(port, agent, r);
        } catch (err) {
          // The server may close a connection on an oversize body before reading it all: not a failure.
          if ((r.body?.length ?? 0) > 1024 * 1024 && /EPIPE|ECONNRESET|socket hang up/.test(String(err))) {
            statuses.set(-1, (statuses.get(-1) ?? 0) + 1);
            continue;
          }
          throw new Error(`request ${i} ${r.method} ${r.path.slice(0, 200)} failed: ${(err as Error).message}`);
        }
        record(r, res);
        if (i === 500) baseline = process.memoryUsage().rss;
        if (i % 250 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const httpSeconds = (Date.now() - t0) / 1000;

    const raw = Array.from({ length: RAW_COUNT }, () => rawCase(rng));
    let rawAnswers = 0;
    const rawStatuses = new Map<number, number>();
    for (let i = 0; i < raw.length; i += 20) {
      const answers = await Promise.all(raw.slice(i, i + 20).map((b) => sendRaw(port, b)));
      for (const a of answers) {
        const m = /^HTTP\/1\.1 (\d{3})/.exec(a);
        if (m) {
          rawAnswers++;
          const status = Number(m[1]);
          rawStatuses.set(status, (rawStatuses.get(status) ?? 0) + 1);
          if (status >= 500) fivexx.push(`raw: ${a.slice(0, 200)}`);
          if (status >= 400) {
            // Node's parser refusals (400, 431) carry the JSON error object too.
            try {
              const e = JSON.parse(parseRaw(a).body);
              if (typeof e?.error?.code !== 'string' || typeof e?.error?.message !== 'string') throw new Error('not an error body');
            } catch {
              nonJsonErrors++;
              if (nonJsonSamples.length < 10) nonJsonSamples.push(`raw → ${JSON.stringify(a.slice(0, 160))}`);
            }
          }
        }
      }
    }
    const endRss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, endRss);
    const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
    const summary = [...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s === -1 ? 'closed' : s}:${n}`).join(' ');
    const rawSummary = [...rawStatuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ');
    console.log(`fuzz: ${sent} HTTP requests in ${httpSeconds.toFixed(1)} s (${summary}); ${RAW_COUNT} raw cases (${rawAnswers} answered with a status line: ${rawSummary}); RSS ${(baseline / 2 ** 20).toFixed(0)} MiB after 500 → ${(endRss / 2 ** 20).toFixed(0)} MiB at the end (peak ${(peakRss / 2 ** 20).toFixed(0)} MiB)`);

    assert.deepEqual(fivexx.slice(0, 20), [], `${fivexx.length} answers were 5xx`);
    // Oversize headers (raw case 1) and bytes that are not HTTP are answered, not reset.
    assert.ok((rawStatuses.get(431) ?? 0) > 0 && (rawStatuses.get(400) ?? 0) > 0, `raw answers: ${rawSummary}`);
    assert.equal(nonJsonErrors, 0, `every error answer is {"error": {code, message}}:\n${nonJsonSamples.join('\n')}`);
    assert.ok((statuses.get(200) ?? 0) > 100, 'some requests were good enough to be served');
    assert.ok([...statuses.keys()].filter((s) => s >= 400).length >= 6, `a spread of 4xx: ${summary}`);
    assert.deepEqual(h.logs.filter((l) => /failed:/.test(l)), [], 'nothing was logged as a server fault');
    // Bounded memory: after the warm-up, thousands more requests grow RSS by less than 256 MiB.
    assert.ok(endRss - baseline < 256 * 2 ** 20, `RSS grew by ${((endRss - baseline) / 2 ** 20).toFixed(0)} MiB`);
    // Still serving, the same answers as before, and the health check is fine.
    assert.deepEqual(await probes(), before);
    const hz = await send(port, agent, { method: 'GET', path: '/healthz', headers: {} });
    assert.equal(JSON.parse(hz.body).status, 'ok');
    agent.destroy();
  });
});
