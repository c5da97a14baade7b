/**
 * Cache keys of the tests' cached worlds (tiny-world.ts, server-world.ts): the content of every
 * file that shapes the cached datasets, training sets, models and indexes, so a cache can never
 * serve artefacts built by older code. Folders are hashed whole (sorted relative paths, sizes
 * and bytes), so a new file or a renamed one changes the key as much as an edited one; only
 * byte-code caches and dot-files (editor swap files) are left out.
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * What shapes the cached worlds: the whole Python engine (training, loss, params, export,
 * packaging, recipes, model configs), the data layer (dataset/trainset writers, generators,
 * poisoning, pools), the index builder and model runtime, the evaluation layer (`eval`, which
 * lived in the indexer's folder when this key was first made), the trainer's TypeScript, `core`
 * (seeded random, atomic files, workspace layout), the test helpers that define the worlds,
 * and the pinned package versions (npm lock file, the engine's requirements).
 */
export const WORLD_SOURCES = [
  'trainer/engine/poisonlens_engine',
  'trainer/engine/requirements.txt',
  'trainer/*.ts',
  'data',
  'indexer',
  'eval',
  'core',
  'test/helpers/tiny-world.ts',
  'test/helpers/server-world.ts',
  'test/helpers/fingerprint.ts',
  'package-lock.json',
];

function skipped(name: string): boolean {
  return name.startsWith('.') || name === '__pycache__' || name === 'node_modules' || name.endsWith('.pyc');
}

/** Every file under `path` (a file, a folder, or `folder/*.ext` for that folder's own files), relative to ROOT. */
function filesOf(path: string): string[] {
  const star = /^(.*)\/\*(\.[^/]+)$/.exec(path);
  if (star) {
    const dir = join(ROOT, star[1]);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => !skipped(n) && n.endsWith(star[2]) && statSync(join(dir, n)).isFile())
      .map((n) => `${star[1]}/${n}`);
  }
  const abs = join(ROOT, path);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (skipped(name)) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(relative(ROOT, p));
    }
  };
  walk(abs);
  return out;
}

/** Hashes the sorted files of `paths` (see filesOf) into `h`: path, size and bytes of each. */
export function hashFiles(h: Hash, paths: string[]): void {
  const files = [...new Set(paths.flatMap(filesOf))].sort();
  for (const f of files) {
    const bytes = readFileSync(join(ROOT, f));
    h.update(`${f}\0${bytes.length}\0`);
    h.update(bytes);
  }
}

/** The installed Python packages and their versions (torch, open_clip, onnx…) of the project's venv. */
function venvPackages(): string {
  const lib = join(ROOT, '.venv', 'lib');
  if (!existsSync(lib)) return '';
  const out: string[] = [];
  for (const py of readdirSync(lib).sort()) {
    const site = join(lib, py, 'site-packages');
    if (existsSync(site)) out.push(py, ...readdirSync(site).filter((n) => n.endsWith('.dist-info')).sort());
  }
  return out.join('\n');
}

let memo: string | null = null;

/** A 16-hex-digit key of WORLD_SOURCES' content and the venv's package versions (computed once per process). */
export function worldSourcesFingerprint(): string {
  if (memo) return memo;
  const h = createHash('sha256');
  hashFiles(h, WORLD_SOURCES);
  h.update(`venv\0${venvPackages()}\0`);
  memo = h.digest('hex').slice(0, 16);
  return memo;
}
