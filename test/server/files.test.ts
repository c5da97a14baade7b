import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import request from 'supertest';
import sharp from 'sharp';
import { harness, skipReason, type Harness } from './harness.js';

describe('image and thumbnail routes', { skip: skipReason }, () => {
  let h: Harness;
  let agent: ReturnType<typeof request>;
  let dir: string;
  before(async () => {
    h = await harness();
    agent = request(h.pl.app);
    dir = join(h.ws.datasets, h.world.dataset);
  });
  after(() => h?.close());

  test('serves a manifest image with its type, bytes and caching headers', async () => {
    const png = await agent.get('/images/tiny/images/000.png');
    assert.equal(png.status, 200);
    assert.equal(png.type, 'image/png');
    assert.deepEqual(Buffer.from(png.body), readFileSync(join(dir, 'images/000.png')));
    assert.match(png.headers['cache-control'], /max-age/);
    assert.equal(png.headers['x-content-type-options'], 'nosniff');
    const jpg = await agent.get('/images/tiny/images/001.jpg');
    assert.equal(jpg.status, 200);
    assert.equal(jpg.type, 'image/jpeg');
    const head = await agent.head('/images/tiny/images/000.png');
    assert.equal(head.status, 200);
  });

  test('every search result URL and thumbnail URL resolves', async () => {
    const res = await agent.get('/api/search').query({ q: 'a sheep', k: 9 });
    for (const r of res.body.results) {
      assert.equal((await agent.get(r.url)).status, 200, r.url);
      assert.equal((await agent.get(r.thumbUrl)).status, 200, r.thumbUrl);
    }
  });

  test('thumbnails are made once, cached under cache/thumbs, written atomically', async () => {
    const first = await agent.get('/thumbs/tiny/images/003.png');
    assert.equal(first.status, 200);
    assert.equal(first.type, 'image/webp');
    const meta = await sharp(Buffer.from(first.body)).metadata();
    assert.equal(meta.format, 'webp');
    assert.ok((meta.width ?? 0) <= 256 && (meta.height ?? 0) <= 256);
    const cacheDir = join(h.ws.cache, 'thumbs', 'tiny');
    const files = readdirSync(cacheDir);
    assert.ok(files.length >= 1);
    assert.ok(files.every((f) => f.endsWith('.webp') && !f.startsWith('.')), `no temp files left: ${files}`);
    // Concurrent requests for a new thumbnail share one resize and all succeed.
    const many = await Promise.all(Array.from({ length: 8 }, () => agent.get('/thumbs/tiny/images/006.png')));
    assert.ok(many.every((r) => r.status === 200));
    const again = await agent.get('/thumbs/tiny/images/003.png');
    assert.deepEqual(Buffer.from(again.body), Buffer.from(first.body));
  });

  test('path traversal and anything outside the manifest is refused', async () => {
    const refused: Array<[string, number]> = [
      ['/images/tiny/../dataset.json', 400],
      ['/images/tiny/images/../../dataset.json', 400],
      ['/images/tiny/images/..%2f..%2fdataset.json', 400],
      ['/images/tiny/images/..%2F..%2Fdataset.json', 400],
      ['/images/tiny/%2e%2e/dataset.json', 400],
      ['/images/tiny/%2E%2E/%2E%2E/catalog.sqlite', 400],
      ['/images/tiny/images%2f000.png', 400],
      ['/images/tiny/images%5c000.png', 400],
      ['/images/tiny/images/000.png%00.txt', 400],
      ['/images/tiny//etc/passwd', 400],
      ['/images/tiny/%2fetc%2fpasswd', 400],
      ['/images/tiny/./images/000.png', 400],
      ['/images/tiny/images/%252e%252e/x', 404],
      ['/images/tiny/dataset.json', 404],
      ['/images/tiny/manifest.jsonl', 404],
      ['/images/tiny/images/999.png', 404],
      ['/images/tiny/images/000.PNG', 404],
      ['/images/nope/images/000.png', 404],
      ['/images/%2e%2e/images/000.png', 400],
      ['/images/..%2ftiny/images/000.png', 400],
      ['/thumbs/tiny/../dataset.json', 400],
      ['/thumbs/tiny/%2e%2e/%2e%2e/catalog.sqlite', 400],
      ['/thumbs/tiny/dataset.json', 404],
    ];
    for (const [url, status] of refused) {
      const res = await agent.get(url);
      assert.equal(res.status, status, `${url}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.match(res.type, /json/, url);
      assert.equal(typeof res.body.error.message, 'string');
    }
    // A raw backslash (not encoded by the client).
    const bs = await agent.get('/images/tiny/images\\..\\..\\dataset.json');
    assert.ok(bs.status === 400 || bs.status === 404, String(bs.status));
  });

  test('a manifest file that is a symlink out of the dataset is not served', async () => {
    const outside = join(tmpdir(), `pl-outside-${process.pid}.png`);
    writeFileSync(outside, readFileSync(join(dir, 'images/000.png')));
    const victim = join(dir, 'images/002.png');
    rmSync(victim);
    symlinkSync(outside, victim);
    try {
      for (const url of ['/images/tiny/images/002.png', '/thumbs/tiny/images/002.png']) {
        const res = await agent.get(url);
        assert.equal(res.status, 403, `${url}: ${res.status}`);
        assert.equal(res.body.error.code, 'forbidden_path');
      }
      // A symlink that stays inside the dataset is fine.
      const inside = join(dir, 'images/005.png');
      rmSync(inside);
      symlinkSync(join(dir, 'images/000.png'), inside);
      assert.equal((await agent.get('/images/tiny/images/005.png')).status, 200);
      // A listed file that vanished is a 404, not a crash.
      rmSync(join(dir, 'images/008.png'));
      assert.equal((await agent.get('/images/tiny/images/008.png')).status, 404);
      assert.equal((await agent.get('/thumbs/tiny/images/008.png')).status, 404);
    } finally {
      rmSync(outside, { force: true });
    }
    assert.ok(existsSync(dir));
  });
});
