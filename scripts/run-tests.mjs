#!/usr/bin/env node
// Runs every test: node's test runner over test/**/*.test.ts (through tsx) and, at the same time,
// pytest over the Python engine's tests with the project's venv. Exits non-zero if either fails.
//
// Two test files run at once (node's default on two cores is one): most tests drive one-thread
// trainings, servers or a browser, so one file alone leaves a core idle. (node's runner sorts the
// files itself, so their order here does not matter.)
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
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
const concurrency = Number(process.env.POISONLENS_TEST_CONCURRENCY ?? Math.max(2, availableParallelism() - 1));

/** Runs a command to completion; its output goes to `out` (a file descriptor or 'inherit'). Resolves to the exit status. */
function run(cmd, args, out) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', out, out] });
    child.on('error', (err) => (console.error(`run-tests: ${cmd}: ${err.message}`), resolve(1)));
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/** pytest over the engine's tests, beside the node tests (mostly one-thread work): its exit status and output. */
async function pytest() {
  const python = join(root, '.venv', 'bin', 'python');
  const engineTests = join(root, 'trainer', 'engine', 'tests');
  if (only.length || !existsSync(engineTests)) return { code: 0, text: '' };
  if (!existsSync(python)) return { code: 1, text: 'run-tests: the Python venv is missing; run `npm run cli -- setup` first\n' };
  const dir = mkdtempSync(join(tmpdir(), 'pl-pytest-'));
  try {
    const log = join(dir, 'pytest.log');
    const fd = openSync(log, 'w');
    const code = await run(python, ['-m', 'pytest', '-q', engineTests], fd);
    closeSync(fd);
    return { code, text: `\n# pytest ${relative(root, engineTests)}\n${readFileSync(log, 'utf8')}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const py = pytest();
const nodeCode = files.length ? await run(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], 'inherit') : 0;
const { code: pyCode, text } = await py;
process.stdout.write(text);
process.exit(nodeCode !== 0 || pyCode !== 0 ? 1 : 0);
