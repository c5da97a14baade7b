/**
 * Requests Node's HTTP parser rejects before express runs (a request line or headers over the
 * 16 KiB limit, bytes that are not HTTP) answer with the same JSON error object as every other
 * 4xx, on a raw socket, instead of a bare status line or a reset connection. serve.test.ts checks
 * the same on the real `poisonlens serve`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { answerClientErrors } from '../../server/http/client-errors.js';
import { assertJsonError, OVERSIZE_CASES, parseRaw, rawExchange } from './raw-http.js';

describe('clientError: parser-level rejections answer the JSON error object', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = answerClientErrors(createServer((_req, res) => res.end('ok')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  for (const [what, bytes, status, code] of OVERSIZE_CASES) {
    test(`${what}: ${status} ${code}`, async () => {
      assertJsonError(await rawExchange(port, bytes), status, code, what);
    });
  }

  test('a client that sends oversize headers in slices, and does not close, still reads the whole answer', async () => {
    const bytes = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40_000)}\r\n\r\n`;
    const res = await rawExchange(port, bytes, { slices: 8, end: false });
    assertJsonError(res, 431, 'headers_too_large', 'sliced');
  });

  test('a HEAD request gets the status and headers without a body', async () => {
    const res = await rawExchange(port, `HEAD /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const r = parseRaw(res.text);
    assert.equal(r.status, 431);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    assert.ok(Number(r.headers['content-length']) > 0);
    assert.equal(r.body, '');
  });

  test('a good request on the same server is untouched', async () => {
    const res = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const r = parseRaw(res.text);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
  });
});
