import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { sha256 } from '../../core/fsutil.js';
import { datasetRecord, imageCount, openCatalog } from '../../core/catalog.js';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { loadDataset, type Dataset } from '../../data/dataset.js';

/** Helpers for the importer tests: tiny real images in real on-disk layouts, in temp folders. */

export interface Sandbox {
  root: string;
  /** Where the source dataset's files go. */
  src: string;
  ws: Workspace;
  cleanup(): void;
}

export function sandbox(prefix: string): Sandbox {
  const root = mkdtempSync(join(tmpdir(), `pl-import-${prefix}-`));
  const src = join(root, 'src');
  mkdirSync(src);
  return { root, src, ws: resolveWorkspace(join(root, 'ws')), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

let shade = 0;

/** A solid-colour 8×6 image; format from the extension. Colours vary so files differ. */
export async function writeImage(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  shade = (shade + 37) % 256;
  const img = sharp({ create: { width: 8, height: 6, channels: 3, background: { r: shade, g: 255 - shade, b: 90 } } });
  await (path.endsWith('.png') ? img.png() : img.jpeg()).toFile(path);
}

/** A file named like an image that no decoder accepts. */
export function writeGarbage(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, 'this is not an image\n');
}

export function writeText(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

export function writeJson(path: string, value: unknown): void {
  writeText(path, JSON.stringify(value));
}

/**
 * Checks what must hold for every imported dataset: files exist under the dataset folder,
 * counts and the manifest hash in dataset.json match the manifest, the catalog has every image.
 */
export function checkRoundTrip(ws: Workspace, name: string): Dataset {
  const d = loadDataset(ws, name);
  assert.equal(d.card.name, name);
  assert.equal(sha256(readFileSync(join(d.dir, 'manifest.jsonl'))), d.card.manifestSha256);
  const counts = { train: 0, val: 0, test: 0 };
  for (const e of d.entries) {
    counts[e.split]++;
    assert.ok(e.file.startsWith('images/'), e.file);
    assert.ok(existsSync(join(d.dir, e.file)), `missing ${e.file}`);
    assert.ok(e.captions.length > 0 && e.captions.every((c) => c.trim() === c && c.length > 0), `captions of ${e.id}`);
    if (e.label !== null) assert.ok(e.labels.includes(e.label), `label ${e.label} not in labels of ${e.id}`);
  }
  assert.deepEqual(d.card.counts, counts);
  assert.equal(new Set(d.entries.map((e) => e.id)).size, d.entries.length, 'ids are unique');
  assert.match(d.card.licence, /see the original dataset's terms/i);
  assert.ok(d.card.attribution.length > 0);
  const db = openCatalog(ws.catalogPath);
  try {
    assert.equal(datasetRecord(db, name)?.manifestSha256, d.card.manifestSha256);
    assert.equal(imageCount(db, name), d.entries.length);
  } finally {
    db.close();
  }
  return d;
}

/** Nothing half-written: no dataset folder and no temp folder left beside it. */
export function assertNothingWritten(ws: Workspace, name: string): void {
  assert.ok(!existsSync(join(ws.datasets, name)), `dataset ${name} should not exist`);
  const leftovers = existsSync(ws.datasets) ? readdirSync(ws.datasets).filter((f) => f.startsWith('.')) : [];
  assert.deepEqual(leftovers, [], 'temp folders left behind');
}

export function byId<T extends { id: string }>(entries: T[]): Map<string, T> {
  return new Map(entries.map((e) => [e.id, e]));
}

export const FIVE = (stem: string) => [1, 2, 3, 4, 5].map((i) => `A ${stem} picture, sentence ${i}.`).join('\n') + '\n';
