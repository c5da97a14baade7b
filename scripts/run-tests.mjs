#!/usr/bin/env node
// Runs every test: node's test runner over test/**/*.test.ts (through tsx), then pytest over
// the Python engine's tests with the project's venv. Exits non-zero if either fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = findTests(join(root, 'test'));
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
let failed = false;
if (files.length) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { cwd: root, stdio: 'inherit' });
  failed ||= r.status !== 0;
}

const python = join(root, '.venv', 'bin', 'python');
const engineTests = join(root, 'trainer', 'engine', 'tests');
if (!only.length && existsSync(engineTests)) {
  if (!existsSync(python)) {
    console.error('run-tests: the Python venv is missing; run `npm run cli -- setup` first');
    failed = true;
  } else {
    const r = spawnSync(python, ['-m', 'pytest', '-q', engineTests], { cwd: root, stdio: 'inherit' });
    failed ||= r.status !== 0;
  }
}
process.exit(failed ? 1 : 0);
