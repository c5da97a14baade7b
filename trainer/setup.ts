import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sha256, writeFileAtomic } from '../core/fsutil.js';
import { UserError } from '../core/errors.js';

/** The repository root (this file is trainer/setup.ts). */
export const REPO_ROOT = resolve(new URL('..', import.meta.url).pathname);
export const VENV_DIR = join(REPO_ROOT, '.venv');
export const VENV_PYTHON = join(VENV_DIR, 'bin', 'python');
export const ENGINE_DIR = join(REPO_ROOT, 'trainer', 'engine');
const REQUIREMENTS = join(ENGINE_DIR, 'requirements.txt');
const STAMP = join(VENV_DIR, '.poisonlens-requirements.sha256');

/** True when the venv exists and was built from the current requirements file. */
export function venvUpToDate(): boolean {
  if (!existsSync(VENV_PYTHON) || !existsSync(STAMP)) return false;
  return readFileSync(STAMP, 'utf8').trim() === sha256(readFileSync(REQUIREMENTS));
}

/**
 * Creates or updates the engine's venv. A no-op when the stamp matches the requirements.
 * pip runs with `--retries 0` so that an unreachable default index fails over to the local
 * wheel sources at once instead of retrying for minutes.
 */
export function ensureVenv(log: (line: string) => void = (l) => console.error(l)): void {
  if (venvUpToDate()) return;
  const python = process.env.PYTHON ?? 'python3';
  if (!existsSync(VENV_PYTHON)) {
    log(`setup: creating the Python venv in ${VENV_DIR} …`);
    run(python, ['-m', 'venv', VENV_DIR]);
  }
  log('setup: installing the training engine requirements (torch, open_clip, onnx; ~1 min) …');
  run(VENV_PYTHON, ['-m', 'pip', 'install', '--retries', '0', '--progress-bar', 'off', '-qq', '-r', REQUIREMENTS]);
  writeFileAtomic(STAMP, sha256(readFileSync(REQUIREMENTS)) + '\n');
  log('setup: Python venv ready');
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) throw new UserError(`setup: could not run ${cmd}: ${r.error.message}`, 'setup_failed');
  if (r.status !== 0) throw new UserError(`setup: \`${cmd} ${args.join(' ')}\` exited with ${r.status}`, 'setup_failed');
}
