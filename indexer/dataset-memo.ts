/**
 * Datasets read once per process while their files stay the same: a manifest of 52,000 scenes
 * with five captions each takes most of a repeated evaluation's time to parse (an evaluation
 * then reads its 1,000 test images out of it). The parsed dataset is kept, keyed by the identity
 * and stat of dataset.json and manifest.jsonl (device, inode, size, mtime, ctime), and read again
 * when either changes (rewritten datasets are renamed into place: a new inode). Callers share the
 * object and must not change it. At most two datasets are kept.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../core/workspace.js';
import { datasetDir, loadDataset, type Dataset } from '../data/dataset.js';
import { LruCache } from './lru.js';

const MAX_KEPT = 2;
const kept = new LruCache<string, { stamp: string; dataset: Dataset }>(MAX_KEPT);

function stampOf(dir: string): string | null {
  try {
    return ['dataset.json', 'manifest.jsonl']
      .map((f) => {
        const st = statSync(join(dir, f), { bigint: true });
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      })
      .join('|');
  } catch {
    return null; // missing: loadDataset says what is wrong
  }
}

/** `loadDataset`, parsed once per process while the dataset's files are unchanged (read-only result). */
export function loadDatasetShared(ws: Workspace, name: string): Dataset {
  const dir = datasetDir(ws, name);
  const stamp = stampOf(dir);
  // A stale entry is looked at without being made the most recently used.
  if (stamp && kept.peek(dir)?.stamp === stamp) return kept.get(dir)!.dataset;
  const dataset = loadDataset(ws, name);
  // Only when nothing changed while it was read.
  if (stamp && stampOf(dir) === stamp) kept.set(dir, { stamp, dataset });
  return dataset;
}
