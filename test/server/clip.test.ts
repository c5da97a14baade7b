import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { harness, samplePng, skipReason, type Harness } from './harness.js';

/**
 * clip-retrieval compatibility. `ClipService` below sends requests exactly as clip-retrieval's
 * front end does (front/src/clip-service.js): fetch with a JSON.stringify'd body and no
 * Content-Type header (so the browser sends text/plain), every field present, null for unused
 * inputs. Its calls mirror the front end's defaults (clip-front.js: numImages 40,
 * numResultIds 3000, modality "image", aestheticScore "", aestheticWeight "0.5").
 */
class ClipService {
  constructor(readonly backend: string) {}

  async getIndices(): Promise<unknown> {
    return JSON.parse(await (await fetch(this.backend + '/indices-list', {})).text());
  }

  async callClipService(
    text: string | null,
    image: string | null,
    imageUrl: string | null,
    embeddingInput: number[] | null,
    modality: string,
    numImages: number,
    indexName: string,
    numResultIds: number,
    useMclip: boolean,
    hideDuplicateImages: boolean,
    useSafetyModel: boolean,
    useViolenceDetector: boolean,
    aestheticScore: string,
    aestheticWeight: string,
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(this.backend + '/knn-service', {
      method: 'POST',
      body: JSON.stringify({
        text,
        image,
        image_url: imageUrl,
        embedding_input: embeddingInput,
        modality,
        num_images: numImages,
        indice_name: indexName,
        num_result_ids: numResultIds,
        use_mclip: useMclip,
        deduplicate: hideDuplicateImages,
        use_safety_model: useSafetyModel,
        use_violence_detector: useViolenceDetector,
        aesthetic_score: aestheticScore,
        aesthetic_weight: aestheticWeight,
      }),
    });
    return { status: res.status, body: JSON.parse(await res.text()) };
  }

  async getMetadata(ids: number[], indexName: string): Promise<{ status: number; body: any }> {
    const res = await fetch(this.backend + '/metadata', { method: 'POST', body: JSON.stringify({ ids, indice_name: indexName }) });
    return { status: res.status, body: JSON.parse(await res.text()) };
  }
}

describe('clip-retrieval back-end compatibility', { skip: skipReason }, () => {
  let h: Harness;
  let server: Server;
  let base: string;
  let service: ClipService;
  let index: string;
  before(async () => {
    h = await harness();
    server = createServer(h.pl.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    service = new ClipService(base);
    index = `${h.world.clean}/${h.world.dataset}`;
  });
  after(async () => {
    await new Promise((r) => server?.close(r));
    await h?.close();
  });

  test('GET /indices-list lists "model/dataset" names, the active model first', async () => {
    const list = (await service.getIndices()) as string[];
    assert.ok(Array.isArray(list));
    assert.equal(list[0], index);
    assert.deepEqual([...list].sort(), [h.world.base, h.world.clean, h.world.poisoned].map((m) => `${m}/${h.world.dataset}`).sort());
  });

  test('a text search as the front end sends it', async () => {
    const { status, body } = await service.callClipService('a sheep on the grass', null, null, null, 'image', 40, index, 3000, false, false, true, true, '', '0.5');
    assert.equal(status, 200, JSON.stringify(body));
    assert.ok(Array.isArray(body));
    assert.equal(body.length, 9, 'num_result_ids is capped by the 9-image gallery');
    body.forEach((r: any, i: number) => {
      assert.ok(Number.isInteger(r.id) && r.id >= 0 && r.id < 9);
      assert.equal(typeof r.similarity, 'number');
      if (i > 0) assert.ok(r.similarity <= body[i - 1].similarity);
      assert.ok(r.url.startsWith(`${base}/images/tiny/images/`), r.url);
      assert.equal(typeof r.caption, 'string');
      assert.ok(r.caption.length > 0);
    });
    assert.equal(new Set(body.map((r: any) => r.id)).size, 9);
    // The URLs are what the front end puts in <img src>: they load.
    const img = await fetch(body[0].url);
    assert.equal(img.status, 200);
    assert.match(img.headers.get('content-type') ?? '', /^image\//);
    // Same order as PoisonLens's own API on the same model.
    const own = await (await fetch(`${base}/api/search?${new URLSearchParams({ q: 'a sheep on the grass', k: '9', model: h.world.clean })}`)).json();
    assert.deepEqual(body.map((r: any) => r.image_id), own.results.map((r: any) => r.imageId));
  });

  test('only the first num_images results carry metadata; /metadata fills in the rest', async () => {
    const { body } = await service.callClipService('a car on the road', null, null, null, 'image', 3, index, 9, false, false, false, false, '', '');
    assert.equal(body.length, 9);
    body.slice(0, 3).forEach((r: any) => assert.ok(r.url && r.caption !== undefined));
    body.slice(3).forEach((r: any) => assert.deepEqual(Object.keys(r).sort(), ['id', 'similarity']));
    const ids = body.slice(3).map((r: any) => r.id);
    const meta = await service.getMetadata(ids, index);
    assert.equal(meta.status, 200);
    assert.deepEqual(meta.body.map((m: any) => m.id), ids);
    for (const m of meta.body) {
      assert.ok(m.metadata.url.startsWith(`${base}/images/`));
      assert.equal(typeof m.metadata.caption, 'string');
      assert.match(m.metadata.image_id, /^img\d{3}$/);
    }
    const empty = await service.getMetadata([], index);
    assert.deepEqual(empty.body, []);
  });

  test('image search with base64 (as FileReader gives it, prefix stripped) and embedding_input', async () => {
    const png = (await samplePng()).toString('base64');
    const r = await service.callClipService('', png, null, null, 'image', 40, index, 3000, false, true, true, true, '', '0.5');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.length >= 1 && r.body.length <= 9, 'deduplicate may drop near-duplicates');
    const withPrefix = await service.callClipService(null, `data:image/png;base64,${png}`, null, null, 'image', 5, index, 5, false, false, false, false, '', '');
    assert.equal(withPrefix.status, 200);
    assert.equal(withPrefix.body.length, 5);
    const dim = 32;
    const vec = Array.from({ length: dim }, (_, i) => Math.sin(i + 1));
    const e = await service.callClipService(null, null, null, vec, 'image', 4, index, 4, false, false, false, false, '', '');
    assert.equal(e.status, 200, JSON.stringify(e.body));
    assert.equal(e.body.length, 4);
    const wrong = await service.callClipService(null, null, null, [1, 2, 3], 'image', 4, index, 4, false, false, false, false, '', '');
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.error.message, /32 dimensions/);
  });

  test('indice_name selects the model; a bare model name uses its default dataset; null the first index', async () => {
    const p = await service.callClipService('a sheep', null, null, null, 'image', 9, `${h.world.poisoned}/${h.world.dataset}`, 9, false, false, false, false, '', '');
    const bare = await service.callClipService('a sheep', null, null, null, 'image', 9, h.world.poisoned, 9, false, false, false, false, '', '');
    assert.equal(p.status, 200);
    assert.deepEqual(bare.body, p.body);
    const own = await (await fetch(`${base}/api/search?${new URLSearchParams({ q: 'a sheep', k: '9', model: h.world.poisoned })}`)).json();
    assert.deepEqual(p.body.map((r: any) => r.image_id), own.results.map((r: any) => r.imageId));
    const res = await fetch(`${base}/knn-service`, { method: 'POST', body: JSON.stringify({ text: 'a sheep', modality: 'image', num_images: 2, indice_name: null }) });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).length, 2);
  });

  test("clip-retrieval's Python client style (application/json, minimal fields) works", async () => {
    const res = await fetch(`${base}/knn-service`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'a car', modality: 'image', num_images: 2, indice_name: index }),
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).length, 2);
  });

  test('unsupported and malformed requests are 4xx with a message', async () => {
    const post = async (body: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}/knn-service`, { method: 'POST', body, headers });
      return { status: res.status, body: (await res.json()) as any };
    };
    const cases: Array<[unknown, number, RegExp]> = [
      [{ image_url: 'http://example.invalid/x.png', modality: 'image', num_images: 2, indice_name: index }, 400, /image_url is not supported/],
      [{ text: 'a car', modality: 'text', num_images: 2, indice_name: index }, 400, /modality "text"/],
      [{ modality: 'image', num_images: 2, indice_name: index }, 400, /must fill one of/],
      [{ text: '', image: null, modality: 'image', num_images: 2, indice_name: index }, 400, /must fill one of/],
      [{ text: 'a car', num_images: 0, indice_name: index }, 400, /num_images/],
      [{ text: 'a car', num_images: 10_001, indice_name: index }, 400, /num_images/],
      [{ text: 'a car', num_images: '40', indice_name: index }, 200, /./],
      [{ text: 'a car', num_images: 2, indice_name: 'nope/tiny' }, 404, /unknown model/],
      [{ text: 'a car', num_images: 2, indice_name: `${h.world.clean}/nope` }, 404, /unknown index/],
      [{ text: 'a car', num_images: 2, indice_name: '../../etc' }, 400, /indice_name/],
      [{ text: 7, num_images: 2 }, 400, /text must be a string/],
      [{ text: 'a car', num_images: 2, deduplicate: 'maybe' }, 400, /deduplicate/],
      [{ image: '@@@not base64@@@', num_images: 2 }, 400, /image/],
      [{ image: Buffer.from('hello').toString('base64'), num_images: 2 }, 415, /not an image/],
      [{ text: 'a car', embedding_input: ['x'], num_images: 2 }, 400, /embedding_input\[0\]/],
      [[1, 2], 400, /JSON object/],
    ];
    for (const [body, status, message] of cases) {
      const r = await post(JSON.stringify(body));
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      if (status >= 400) assert.match(r.body.error.message, message, JSON.stringify(body));
    }
    const notJson = await post('{"text": "a car", ');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'invalid_json');
    const meta = await fetch(`${base}/metadata`, { method: 'POST', body: JSON.stringify({ ids: [-1], indice_name: index }) });
    assert.equal(meta.status, 400);
    const metaFar = await fetch(`${base}/metadata`, { method: 'POST', body: JSON.stringify({ ids: [5, 100000], indice_name: index }) });
    assert.equal(metaFar.status, 200);
    const rows = (await metaFar.json()) as any[];
    assert.equal(rows[1].metadata, null, 'a row beyond the index has no metadata');
  });

  test('CORS: any origin may call the read-only clip-retrieval routes', async () => {
    const res = await fetch(`${base}/indices-list`, { headers: { Origin: 'http://front.example' } });
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const pre = await fetch(`${base}/knn-service`, { method: 'OPTIONS', headers: { Origin: 'http://front.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    // The PoisonLens API itself does not open up to other origins.
    const api = await fetch(`${base}/api/models`, { headers: { Origin: 'http://front.example' } });
    assert.equal(api.headers.get('access-control-allow-origin'), null);
  });
});
