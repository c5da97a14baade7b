import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCycles, importGraph, layerOf, pathTo } from '../helpers/import-graph.js';
import { ROOT } from '../helpers/fingerprint.js';

// The layering of ARCHITECTURE.md §1, as the layers each layer may import (besides itself).
// Every layer may import `core`; nothing imports `server` or `cli` but `cli` (and bin's
// launcher); `server` starts no training, so it imports no `trainer`.
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  data: ['core'],
  indexer: ['core', 'data'],
  eval: ['core', 'data', 'indexer'],
  trainer: ['core', 'data', 'indexer', 'eval'],
  server: ['core', 'data', 'indexer', 'eval'],
  cli: ['core', 'data', 'indexer', 'eval', 'trainer', 'server'],
  bench: ['core', 'data', 'indexer', 'eval', 'trainer'],
  bin: ['cli'],
  scripts: [],
};

const graph = importGraph(ROOT);

test('the import graph is read: static, type-only and dynamic imports, across the layers', () => {
  assert.ok(graph.size > 100, `${graph.size} modules found`);
  assert.ok(graph.get('bin/poisonlens.mjs')?.includes('cli/main.ts'), 'the launcher’s dynamic import of the CLI');
  assert.ok(graph.get('eval/evaluate.ts')?.includes('eval/backend.ts'), 'a type-only import');
  assert.ok(graph.get('cli/eval-command.ts')?.includes('eval/indexer-backend.ts'));
});

test('the reader finds a circle closed by a type-only import and a dynamic import', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-graph-'));
  try {
    mkdirSync(join(dir, 'layer'));
    writeFileSync(join(dir, 'layer', 'a.ts'), "import type {\n  B,\n} from './b.js';\nexport const a = 1;\n");
    writeFileSync(join(dir, 'layer', 'b.ts'), "export type B = number;\nexport async function later() {\n  return import('./a.js');\n}\n");
    writeFileSync(join(dir, 'layer', 'c.ts'), "export { a } from './a.js';\n");
    const toy = importGraph(dir);
    assert.deepEqual(toy.get('layer/c.ts'), ['layer/a.ts']);
    assert.deepEqual(findCycles(toy), [['layer/a.ts', 'layer/b.ts', 'layer/a.ts']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no import circles anywhere', () => {
  const cycles = findCycles(graph).map((c) => c.join(' → '));
  assert.deepEqual(cycles, []);
});

test('every import follows the layering of ARCHITECTURE.md §1', () => {
  const wrong: string[] = [];
  for (const [from, targets] of graph) {
    const layer = layerOf(from);
    const allowed = MAY_IMPORT[layer];
    if (!allowed) {
      wrong.push(`${from}: folder ${JSON.stringify(layer)} has no place in the layering (add it to MAY_IMPORT and ARCHITECTURE.md §1)`);
      continue;
    }
    for (const to of targets) {
      const target = layerOf(to);
      if (target !== layer && !allowed.includes(target)) wrong.push(`${from} → ${to} (${layer} may import ${allowed.join(', ') || 'nothing'})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('server does not reach trainer, not even through another layer', () => {
  const reaches = [...graph.keys()]
    .filter((m) => layerOf(m) === 'server')
    .map((m) => pathTo(graph, m, (x) => layerOf(x) === 'trainer'))
    .filter((p): p is string[] => p !== null)
    .map((p) => p.join(' → '));
  assert.deepEqual(reaches, []);
});
