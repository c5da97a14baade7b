/**
 * Raw-socket HTTP for the tests of requests that Node's parser rejects before express runs
 * (client-errors.test.ts, serve.test.ts, fuzz.test.ts).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';

/** Sends `bytes` on a fresh connection (optionally in slices, as a slow client would) and returns everything the server wrote before closing. */
export function rawExchange(port: number, bytes: Buffer | string, opts: { slices?: number; end?: boolean } = {}): Promise<{ text: string; error: string | null }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | null = null;
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ text: Buffer.concat(chunks).toString('latin1'), error }));
    s.setTimeout(10_000, () => s.destroy(new Error('timed out')));
    const buf = Buffer.from(bytes);
    const n = opts.slices ?? 1;
    const size = Math.ceil(buf.length / n);
    for (let i = 0; i < n; i++) s.write(buf.subarray(i * size, (i + 1) * size));
    if (opts.end ?? true) s.end();
  });
}

/** Parses a raw HTTP/1.1 response: status, headers (lower-case names) and body. */
export function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string } {
  const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
  assert.ok(m, `not an HTTP response: ${JSON.stringify(text.slice(0, 300))}`);
  const headers: Record<string, string> = {};
  for (const line of m[2].split('\r\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers, body: m[3] };
}

/** The raw cases and the answer each must get. */
export const OVERSIZE_CASES: Array<[string, string, number, string]> = [
  ['a request line over 16 KiB', `GET /api/search?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large'],
  ['one header over 16 KiB', `GET /api/search?q=sheep HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
  ['2,000 headers of 20 bytes', `GET /api/search?q=sheep HTTP/1.1\r\nHost: x\r\n${'X-Filler: yyyyyyyyyy\r\n'.repeat(2000)}\r\n`, 431, 'headers_too_large'],
  ['bytes that are not HTTP', 'HELLO THERE\r\n\r\n', 400, 'bad_request'],
];

/** Checks one raw answer: the status, a JSON content type and the `{"error": {code, message}}` body. */
export function assertJsonError(res: { text: string; error: string | null }, status: number, code: string, what: string): void {
  const r = parseRaw(res.text);
  assert.equal(r.status, status, `${what}: ${res.text.slice(0, 200)}`);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, what);
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body), what);
  const body = JSON.parse(r.body) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error'], what);
  assert.equal(body.error.code, code, what);
  assert.ok(typeof body.error.message === 'string' && body.error.message.length > 0, what);
}
