import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SceneMaker, type SceneJob } from './scene.js';
import type { ManifestEntry } from '../dataset.js';
import type { AtlasData } from './atlas.js';
import type { SceneStyle } from './style.js';

/**
 * A render worker: takes batches of scene jobs, writes their PNGs into the dataset's temp
 * folder and sends the manifest entries back; the main thread puts them in order.
 */
export interface WorkerInit {
  size: number;
  seed: number;
  atlas: AtlasData;
  outDir: string;
  style: SceneStyle;
}
export interface BatchRequest {
  id: number;
  jobs: SceneJob[];
}
export type BatchReply = { id: number; entries: ManifestEntry[] } | { id: number; error: string };

const init = workerData as WorkerInit;
const maker = new SceneMaker(init.size, init.seed, init.atlas, init.style);
const madeDirs = new Set<string>();

parentPort!.on('message', (req: BatchRequest) => {
  try {
    const entries: ManifestEntry[] = [];
    for (const job of req.jobs) {
      const { entry, png } = maker.make(job);
      const path = join(init.outDir, entry.file);
      const dir = dirname(path);
      if (!madeDirs.has(dir)) (mkdirSync(dir, { recursive: true }), madeDirs.add(dir));
      writeFileSync(path, png);
      entries.push(entry);
    }
    parentPort!.postMessage({ id: req.id, entries } satisfies BatchReply);
  } catch (err) {
    parentPort!.postMessage({ id: req.id, error: (err as Error).stack ?? String(err) } satisfies BatchReply);
  }
});
