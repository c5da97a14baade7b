/** Runs the reference Python scripts in test/indexer/py with the project's venv. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const PYTHON = join(ROOT, '.venv', 'bin', 'python');

/** Why the Python reference is unavailable, or null when it can run. */
export function pythonMissing(): string | null {
  if (!existsSync(PYTHON)) return 'the Python venv (.venv) is missing: run `npm run cli -- setup` to enable the parity tests';
  return null;
}

/** The open_clip wheel's vocabulary file in the venv. */
export function venvVocab(): string | null {
  const lib = join(ROOT, '.venv', 'lib');
  if (!existsSync(lib)) return null;
  for (const py of readdirSync(lib)) {
    const p = join(lib, py, 'site-packages', 'open_clip', 'bpe_simple_vocab_16e6.txt.gz');
    if (existsSync(p)) return p;
  }
  return null;
}

export function runPython<T>(script: string, input: unknown, timeoutMs = 300_000): T {
  const r = spawnSync(PYTHON, [join(ROOT, 'test', 'indexer', 'py', script)], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    timeout: timeoutMs,
    env: { ...process.env, PYTHONIOENCODING: 'utf-8', OMP_NUM_THREADS: '1' },
  });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
