import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// Issue 22: the catalog's SQL has one home, core/catalog/. Tests call its table modules too; what
// probes the schema below them or ages a catalog on purpose lives in test/helpers/catalog-probe.ts.
const ROOT = new URL('../..', import.meta.url).pathname;
const SKIP = new Set(['node_modules', '.venv', '.git', 'workspace']);
const HOMES = ['core/catalog/', 'test/helpers/catalog-probe.ts'];
// better-sqlite3 calls with SQL text (a method merely named prepare is not one), and SQL statements.
const SQL = /\.(prepare|exec)\(\s*[`'"]|\.pragma\(|\.transaction\(|\b(SELECT\s+[\w*]|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b/;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

test('no SQL outside core/catalog/ (and, for the tests, catalog-probe.ts)', () => {
  const offenders = sources(ROOT)
    .map((p) => relative(ROOT, p))
    .filter((p) => !HOMES.some((home) => p.startsWith(home)))
    .filter((p) => SQL.test(readFileSync(join(ROOT, p), 'utf8')));
  assert.deepEqual(offenders, []);
});
