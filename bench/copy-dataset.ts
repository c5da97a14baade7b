/**
 * Large bench datasets without new image files: a manifest of `n` entries over a source
 * dataset's images (its images folder linked, not copied), each entry made by `entryAt` from
 * the source's entries. Written once; an existing one is kept.
 */
import { existsSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../core/workspace.js';
import { DatasetWriter, loadDataset, type ManifestEntry } from '../data/dataset.js';
import { log } from './stats.js';

export async function writeCopyDataset(ws: Workspace, o: { name: string; source: string; n: number; params: Record<string, unknown>; entryAt: (i: number, source: ManifestEntry[]) => ManifestEntry }): Promise<string> {
  const dir = join(ws.datasets, o.name);
  if (existsSync(join(dir, 'dataset.json'))) return dir;
  log(`gallery: writing ${o.name} (${o.n} manifest lines over the ${o.source} images)`);
  const src = loadDataset(ws, o.source);
  const w = new DatasetWriter(dir);
  rmSync(join(w.tmpDir, 'images'), { recursive: true, force: true });
  symlinkSync(realpathSync(join(src.dir, 'images')), join(w.tmpDir, 'images'));
  const entries = src.entries.filter((e) => e.file.startsWith('images/'));
  for (let i = 0; i < o.n; i++) await w.add(o.entryAt(i, entries));
  await w.finish({ name: o.name, source: 'bench', params: { copies: o.source, n: o.n, ...o.params }, seed: 0, licence: String(src.card.licence ?? ''), attribution: (src.card.attribution as string[]) ?? [] });
  return dir;
}
