// Issue 22, item 6: a file's name says its role, so no two sources share a basename (cli/models-command.ts,
// server/repositories/model-repository.ts, server/schemas/model-schema.ts and trainer/models.ts, not four
// models.ts), and every name is kebab-case. A repeated name made imports and stack traces ambiguous and
// searches by file name return the wrong file.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;
const folders = ['cli', 'core', 'data', 'eval', 'indexer', 'server', 'trainer', 'bench', 'test', 'scripts', 'bin'];
// Folders that hold no source of the repository's own (dependencies, data, build output); dot-folders too.
const skipped = new Set(['node_modules', 'workspace', 'dist']);
// kebab-case words, then `.test` or `.d` where the file is a test or a declaration file.
const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*(\.test|\.d)?\.(ts|mjs)$/;

/** The .ts and .mjs sources under a folder, as paths relative to the repository root. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (skipped.has(entry.name) || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mjs)$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

/** Every basename that more than one of `files` has, with the paths that have it. */
function repeatedBasenames(files: readonly string[]): string[] {
  const byName = new Map<string, string[]>();
  for (const file of files) byName.set(basename(file), [...(byName.get(basename(file)) ?? []), file]);
  return [...byName].filter(([, paths]) => paths.length > 1).map(([name, paths]) => `${name}: ${paths.join(' ')}`);
}

/** The files whose basename is not kebab-case. */
function notKebab(files: readonly string[]): string[] {
  return files.filter((f) => !KEBAB.test(basename(f)));
}

const files = folders.flatMap(sources);

test('the sources are found', () => {
  assert.ok(files.length > 200, `expected the repository's sources, found ${files.length} files`);
  assert.ok(files.includes('cli/main.ts') && files.includes('bin/poisonlens.mjs') && files.includes('test/structure/file-names.test.ts'));
});

test('no two sources share a basename (name a file by its role: x-command.ts, x-routes.ts, x-service.ts, …)', () => {
  assert.deepEqual(repeatedBasenames(files), []);
});

test('every source name is kebab-case', () => {
  assert.deepEqual(notKebab(files), []);
});

test('the checks catch a repeated name and a name that is not kebab-case', () => {
  assert.deepEqual(repeatedBasenames(['a/x.ts', 'b/x.ts', 'b/y.ts', 'c/x.mjs']), ['x.ts: a/x.ts b/x.ts']);
  assert.deepEqual(notKebab(['a/ok-name2.ts', 'a/x.test.ts', 'a/x.d.ts', 'a/w.mjs', 'a/dataImport.ts', 'a/snake_case.ts', 'a/-x.ts', 'a/x--y.ts', 'a/x.spec.ts']), [
    'a/dataImport.ts',
    'a/snake_case.ts',
    'a/-x.ts',
    'a/x--y.ts',
    'a/x.spec.ts',
  ]);
});
