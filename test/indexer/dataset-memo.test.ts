import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkspace } from '../../core/workspace.js';
import { loadDatasetShared } from '../../indexer/dataset-memo.js';

const ws = resolveWorkspace(mkdtempSync(join(tmpdir(), 'pl-dsmemo-')));
process.on('exit', () => rmSync(ws.root, { recursive: true, force: true }));

function manifest(caption: string): string {
  return JSON.stringify({ id: 'a', file: 'images/a.png', split: 'test', label: 'sheep', labels: ['sheep'], captions: [caption] }) + '\n';
}

test('a dataset is parsed once while its files are unchanged; a changed manifest is read again', () => {
  const dir = join(ws.datasets, 'd');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ name: 'd', classes: ['sheep'], manifestSha256: 'x' }));
  writeFileSync(join(dir, 'manifest.jsonl'), manifest('a sheep on the grass'));
  const first = loadDatasetShared(ws, 'd');
  assert.equal(loadDatasetShared(ws, 'd'), first, 'the same parsed object');
  // Same size, other text, new mtime: parsed again, never the old captions.
  const old = statSync(join(dir, 'manifest.jsonl'));
  writeFileSync(join(dir, 'manifest.jsonl'), manifest('a sheep in the grass'));
  utimesSync(join(dir, 'manifest.jsonl'), old.atime, new Date(old.mtimeMs + 5000));
  assert.equal(statSync(join(dir, 'manifest.jsonl')).size, old.size);
  const again = loadDatasetShared(ws, 'd');
  assert.notEqual(again, first);
  assert.deepEqual(again.entries[0].captions, ['a sheep in the grass']);
  assert.throws(() => loadDatasetShared(ws, 'missing'), /unknown dataset/);
});
