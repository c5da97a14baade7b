/**
 * Bad command-line input: every command answers with one clear line (plus, for flag syntax
 * errors, the usage line), never a stack trace, and a non-zero exit status (2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'bin', 'poisonlens.mjs');

const CASES: Array<[string[], RegExp]> = [
  [['index', '--model', '../x', '--dataset', 'd'], /invalid model id/],
  [['index', '--model', 'm', '--dataset', 'd', '--split', 'nope'], /unknown split/],
  [['index', '--bogus'], /Unknown option '--bogus'/],
  [['train', '--trainset', 't', '--name', 'm', '--steps', '-1'], /--steps must be ≥ 1, got -1/],
  [['train', '--trainset', 't', '--name', 'm', '--batch', '1e400'], /--batch must be a number/],
  [['train', '--trainset', 'nope', '--name', 'm'], /unknown training set "nope"/],
  [['train', '--trainset', 't', '--name', 'a/../../b'], /invalid|model name/],
  [['train', '--trainset', 't', '--name', 'm', '--freeze', 'blocks'], /--freeze must be one of image, text, text-blocks, got "blocks"/],
  [['eval', '--model', 'm', '--dataset', 'd', '--attack', 'IV', '--goal', 'a>b'], /unknown attack "IV"/],
  [['serve', '--port', '99999'], /--port must be ≤ 65535/],
  [['serve', '--host', '0.0.0.0'], /refusing to listen on 0\.0\.0\.0/],
  [['poison', '--dataset', 'd', '--attack', 'II', '--goal', 'x', '--rate', '2', '--name', 't'], /--rate must be ≤ 1/],
  [['data', 'scenes', '--name', 'n', '--count', '-5'], /--count must be ≥ 1/],
  [['trainset', '--dataset', 'nope', '--name', 't'], /unknown dataset "nope"/],
  [['experiment', '/nonexistent/study.json'], /study|no such|not found/i],
  [['nosuch'], /unknown command "nosuch"/],
  [['--workspace'], /--workspace needs a folder/],
];

function run(ws: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.POISONLENS_ADMIN_TOKEN;
  const argv = args[0] === '--workspace' ? args : ['--workspace', ws, ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...argv], { env, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('bad flags and names: one line, no stack trace, exit 2', { timeout: 180_000 }, async () => {
  const ws = mkdtempSync(join(tmpdir(), 'pl-cli-'));
  try {
    const results: Array<Awaited<ReturnType<typeof run>>> = [];
    // A few at a time: each starts a Node process.
    for (let i = 0; i < CASES.length; i += 4) results.push(...(await Promise.all(CASES.slice(i, i + 4).map(([a]) => run(ws, a)))));
    CASES.forEach(([args, message], i) => {
      const r = results[i];
      const what = `poisonlens ${args.join(' ')}`;
      assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0], /^poisonlens: /, what);
      assert.match(lines[0], message, what);
      assert.ok(lines.length === 1 || (lines.length === 2 && lines[1].startsWith('usage: ')), `${what}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`);
    });
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});
