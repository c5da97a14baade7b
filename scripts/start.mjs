#!/usr/bin/env node
// `npm start` on a fresh clone: installs the npm packages when they are missing or older than
// package-lock.json (onnxruntime-node's CUDA download skipped), then runs `poisonlens up`, which
// sets up the Python venv and builds what is missing of the default world before serving.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const stamp = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
if (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(lock).mtimeMs) {
  console.error('start: installing npm packages (npm ci) …');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (r.status !== 0) {
    console.error('start: npm ci failed; see above');
    process.exit(r.status ?? 1);
  }
}
const r = spawnSync(process.execPath, [join(root, 'bin', 'poisonlens.mjs'), 'up', ...process.argv.slice(2)], { cwd: process.cwd(), stdio: 'inherit' });
process.exit(r.status ?? 1);
