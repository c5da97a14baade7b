/**
 * The tests' world cache (test/helpers/world-cache.ts): a world is built once per key, a use marks
 * it as used, and building a new one removes the worlds unused for a day (older code's keys).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOnce, pruneUnusedWorlds, UNUSED_WORLD_MS } from '../helpers/world-cache.js';

const old = new Date(Date.now() - UNUSED_WORLD_MS - 60_000);

function oldWorld(cache: string, name: string): void {
  mkdirSync(join(cache, name), { recursive: true });
  writeFileSync(join(cache, name, 'READY'), name);
  utimesSync(join(cache, name, 'READY'), old, old);
}

test('building a new world removes the worlds unused for a day, not a used, locked or half-built one', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'pl-world-cache-'));
  try {
    for (const n of ['tiny-world-old', 'effect-world-used', 'alarm-world-locked']) oldWorld(cache, n);
    mkdirSync(join(cache, 'alarm-world-locked.lock'));
    mkdirSync(join(cache, 'server-world-building'));
    let builds = 0;
    const build = async () => String(++builds);
    assert.equal(await buildOnce(join(cache, 'effect-world-used'), build), 'effect-world-used', 'a built world is read, not rebuilt');
    assert.ok(Date.now() - statSync(join(cache, 'effect-world-used', 'READY')).mtimeMs < 60_000, 'a use marks it as used');
    assert.equal(await buildOnce(join(cache, 'tiny-world-new'), build), '1');
    assert.deepEqual(readdirSync(cache).sort(), ['alarm-world-locked', 'alarm-world-locked.lock', 'effect-world-used', 'server-world-building', 'tiny-world-new']);
    assert.equal(await buildOnce(join(cache, 'tiny-world-new'), build), '1', 'built once');
    assert.deepEqual(pruneUnusedWorlds(cache), [], 'nothing else is old');
    assert.ok(existsSync(join(cache, 'tiny-world-new', 'READY')));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
