import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';

/** Writes a file atomically: a temp file beside it, then rename, so readers never see half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, data);
    holdFileForCrashTest(path, tmp);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Crash tests only: as holdForCrashTest, for a single file (the marker is `<tmp>.held`). */
function holdFileForCrashTest(path: string, tmp: string): void {
  if (!process.env.POISONLENS_TEST_HOLD || process.env.POISONLENS_TEST_HOLD !== basename(path)) return;
  writeFileSync(`${tmp}.held`, String(process.pid));
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 60_000);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Builds a whole folder atomically: `build` fills a temp folder beside `finalDir`, which then
 * replaces `finalDir` by rename. On failure the temp folder is removed and nothing is left.
 */
export async function buildDirAtomic<T>(finalDir: string, build: (tmpDir: string) => Promise<T> | T): Promise<T> {
  mkdirSync(dirname(finalDir), { recursive: true });
  removeStaleTempDirs(finalDir);
  const tmp = join(dirname(finalDir), `.${basename(finalDir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const result = await build(tmp);
    holdForCrashTest(finalDir, tmp);
    if (existsSync(finalDir)) {
      const old = `${tmp}.old`;
      renameSync(finalDir, old);
      renameSync(tmp, finalDir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, finalDir);
    }
    return result;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Removes temp folders that `buildDirAtomic` (or the engine's package writer, which names them
 * the same way: `.<name>.tmp-<pid>-<hex>`) left beside `finalDir` when its process was killed.
 * Only folders whose pid is no longer running are removed; readers skip dot-folders anyway.
 */
export function removeStaleTempDirs(finalDir: string): string[] {
  const parent = dirname(finalDir);
  const prefix = `.${basename(finalDir)}.tmp-`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    // Our own (still being built) and those of live processes stay.
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || pidRunning(pid)) continue;
    rmSync(join(parent, name), { recursive: true, force: true });
    removed.push(join(parent, name));
  }
  return removed;
}

function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Crash tests only: with POISONLENS_TEST_HOLD set to the final folder's name, the process writes
 * `.held` (its pid) into the finished temp folder and then blocks for good just before the
 * rename, so that a test can kill -9 it at the most delicate moment. Unset in normal use.
 */
function holdForCrashTest(finalDir: string, tmp: string): void {
  const hold = process.env.POISONLENS_TEST_HOLD;
  if (!hold || hold !== basename(finalDir)) return;
  writeFileSync(join(tmp, '.held'), String(process.pid));
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 60_000);
}
