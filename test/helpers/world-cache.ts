/**
 * The tests' cached worlds (tiny-world.ts, server-world.ts, alarm-world.ts, effect-world.ts) live
 * under one folder (the OS temp folder, or POISONLENS_TEST_CACHE), each in a folder named by its
 * content key, and are built once per machine and key: the first test process to take the lock
 * folder builds, the others wait for its READY file.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function testCacheRoot(): string {
  return process.env.POISONLENS_TEST_CACHE ?? join(tmpdir(), 'poisonlens-test-cache');
}

/** A lock untouched this long belongs to a process that died (a builder touches it every 20 s, between its synchronous steps). */
const STALE_LOCK_MS = 600_000;
const WAIT_LIMIT_MS = 3_600_000;
/** A world no test has used for this long is of older code (its key changed): removed when a new one is built. */
export const UNUSED_WORLD_MS = 24 * 3_600_000;

/**
 * Builds the world folder `root` once: empties it, runs `build` (which writes into it) and
 * writes `root/READY` with what `build` returns; returns READY's text, at once when it exists.
 */
export async function buildOnce(root: string, build: () => Promise<string>): Promise<string> {
  const done = join(root, 'READY');
  const ready = () => {
    try {
      utimesSync(done, new Date(), new Date()); // in use: not pruned
    } catch {
      /* a read-only cache is used as it is */
    }
    return readFileSync(done, 'utf8');
  };
  if (existsSync(done)) return ready();
  mkdirSync(dirname(root), { recursive: true });
  const lock = `${root}.lock`;
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(done)) return ready();
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (waited > WAIT_LIMIT_MS) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const heartbeat = setInterval(() => {
    try {
      utimesSync(lock, new Date(), new Date());
    } catch {
      /* removed under us: the finally below is about to run */
    }
  }, 20_000);
  heartbeat.unref();
  try {
    if (existsSync(done)) return ready();
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const text = await build();
    writeFileSync(done, text);
    pruneUnusedWorlds(dirname(root));
    return text;
  } finally {
    clearInterval(heartbeat);
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Removes the worlds of `cacheRoot` whose READY no test has touched for `unusedMs` (every content
 * key ever built stays otherwise: 7 GB over two days of sessions here), unless one is locked.
 */
export function pruneUnusedWorlds(cacheRoot: string, unusedMs = UNUSED_WORLD_MS): string[] {
  const gone: string[] = [];
  for (const name of readdirSync(cacheRoot)) {
    const dir = join(cacheRoot, name);
    try {
      if (existsSync(`${dir}.lock`) || Date.now() - statSync(join(dir, 'READY')).mtimeMs <= unusedMs) continue;
    } catch {
      continue; // not a world (no READY: a lock, or one being built)
    }
    rmSync(dir, { recursive: true, force: true });
    gone.push(name);
  }
  return gone;
}
