import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { serverWorld, serverWorkspace } from '../helpers/server-world.js';
import type { Workspace } from '../../core/workspace.js';
import { samplePng, skipReason } from './harness.js';
import { assertJsonError, OVERSIZE_CASES, rawExchange } from './raw-http.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'bin', 'poisonlens.mjs');

function cli(args: string[], env: Record<string, string> = {}) {
  const e = { ...process.env, ...env };
  delete e.POISONLENS_ADMIN_TOKEN;
  Object.assign(e, env);
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: e, timeout: 60_000 });
}

describe('poisonlens serve: flags and binding', () => {
  test('refuses a non-loopback address without POISONLENS_ADMIN_TOKEN', () => {
    const r = cli(['serve', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without POISONLENS_ADMIN_TOKEN/);
    const short = cli(['serve', '--host', '0.0.0.0', '--port', '0'], { POISONLENS_ADMIN_TOKEN: 'short' });
    assert.equal(short.status, 2);
    assert.match(short.stderr, /at least 16 characters/);
  });

  test('bad flags are one line and exit 2', () => {
    for (const args of [['--port', '70000'], ['--host', 'a b'], ['--nope']]) {
      const r = cli(['serve', ...args]);
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, /^poisonlens: /);
    }
  });
});

describe('poisonlens serve: a running server', { skip: skipReason }, () => {
  let ws: Workspace;
  let dispose: () => void;
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let base = '';

  const waitFor = async (what: () => boolean, label: string, ms = 60_000) => {
    const t0 = Date.now();
    while (!what()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${label}\nstdout: ${stdout}\nstderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    ({ ws, dispose } = serverWorkspace(await serverWorld()));
    const env = { ...process.env };
    delete env.POISONLENS_ADMIN_TOKEN;
    child = spawn(process.execPath, [CLI, '--workspace', ws.root, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    await waitFor(() => /at http:\/\/127\.0\.0\.1:\d+\//.test(stdout), 'the listening line');
    base = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout)![1];
    await waitFor(() => /model tiny-clean is ready/.test(stdout), 'the start-up model');
  });
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    dispose?.();
  });

  test('binds loopback, answers searches, and generates a saved admin token', async () => {
    const hz = await (await fetch(`${base}/healthz`)).json();
    assert.equal(hz.active, 'tiny-clean');
    const s = await fetch(`${base}/api/search?q=a+car`);
    assert.equal(s.status, 200);
    const tokenFile = join(ws.root, 'admin-token');
    assert.ok(existsSync(tokenFile));
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    assert.ok(stdout.includes(token), 'the generated token is printed once');
    const swap = await fetch(`${base}/api/models/active`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-poisoned' }),
    });
    assert.equal(swap.status, 200);
    assert.equal((await swap.json()).active, 'tiny-poisoned');
  });

  test('requests Node\'s parser rejects (headers over 16 KiB, not HTTP) get the JSON error object, on a raw socket', async () => {
    const port = Number(new URL(base).port);
    for (const [what, bytes, status, code] of OVERSIZE_CASES) assertJsonError(await rawExchange(port, bytes), status, code, what);
    // A body whose chunked framing breaks after the route started reading it.
    const chunked = `POST /api/search/image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n`;
    assertJsonError(await rawExchange(port, chunked), 400, 'bad_request', 'a broken chunked body');
    // The server still answers.
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  test('SIGTERM: stops accepting, finishes the request in flight, exits 0', async () => {
    const png = await samplePng();
    const url = new URL(`${base}/api/search/image?k=3`);
    // A request whose body is still arriving when the signal comes.
    // `Expect: 100-continue`: the server answers 100 Continue when its request handler has the
    // request, so the signal below comes while the request is in flight, without a guessed sleep.
    let inFlight!: () => void;
    const received = new Promise<void>((r) => (inFlight = r));
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST',
          headers: { 'Content-Type': 'image/png', 'Content-Length': png.length, Expect: '100-continue' },
        },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.on('continue', () => req.write(png.subarray(0, 20), () => inFlight()));
      const finish = async () => {
        await waitFor(() => /SIGTERM: finishing requests in flight/.test(stderr), 'the SIGTERM line', 10_000);
        // New connections are refused while the request in flight finishes.
        await assert.rejects(fetch(`${base}/healthz`));
        req.end(png.subarray(20));
      };
      finish().catch(reject);
    });
    await received;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const res = await response;
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).results.length, 3);
    assert.equal(await exited, 0);
    assert.match(stderr, /poisonlens: stopped/);
  });
});
