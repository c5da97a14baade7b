import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import request from 'supertest';
import { writeJsonAtomic } from '../../core/fsutil.js';
import { worldStatusPath, type WorldStatus } from '../../trainer/world.js';
import { main } from '../../cli/main.js';
import { harness, skipReason, type Harness } from './harness.js';

let h: Harness;
before(async () => {
  if (!skipReason) h = await harness();
});
after(async () => h?.close());

test('GET /api/build is idle without a world build, then reports the status `up` writes', { skip: skipReason }, async () => {
  rmSync(worldStatusPath(h.ws), { force: true });
  const idle = await request(h.pl.app).get('/api/build').expect(200);
  assert.equal(idle.body.state, 'idle');
  assert.equal(idle.headers['cache-control'], 'no-store');
  const status: WorldStatus = {
    state: 'running',
    steps: [
      { name: 'dataset', title: 'scenes dataset', state: 'skipped' },
      { name: 'scenes-base', title: 'base model', state: 'running', progress: 0.25, detail: 'step 10/40' },
    ],
    updatedAt: new Date().toISOString(),
  };
  writeJsonAtomic(worldStatusPath(h.ws), status);
  const running = await request(h.pl.app).get('/api/build').expect(200);
  assert.deepEqual(running.body, status);
  // Every page loads the banner script that polls it.
  const page = await request(h.pl.app).get('/').expect(200);
  assert.match(page.text, /<script src="\/static\/build\.js" defer><\/script>/);
  await request(h.pl.app).get('/static/build.js').expect(200).expect('content-type', /javascript/);
});

test('`poisonlens up` rejects unknown flags with one line and exit code 2', async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  try {
    assert.equal(await main(['up', '--bogus']), 2);
  } finally {
    console.error = orig;
  }
  assert.match(errors.join('\n'), /bogus/);
});
