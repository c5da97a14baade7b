import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { DatasetWriter, datasetDir, type ManifestEntry, type Split } from '../../data/dataset.js';

/**
 * A tiny synthetic dataset for the poisoning tests: solid-colour 16×16 PNGs with hand-written
 * captions. Class sizes (train/test): sheep 6/2, aeroplane 4/2, bird 3/1, dog 2/1. Train image
 * `sheep-tr-5` has 3 captions, every other image 2, so the train split has 31 clean pairs.
 */
export const FIXTURE_CLASSES: Record<string, { train: number; test: number; rgb: [number, number, number] }> = {
  sheep: { train: 6, test: 2, rgb: [240, 240, 240] },
  aeroplane: { train: 4, test: 2, rgb: [40, 90, 200] },
  bird: { train: 3, test: 1, rgb: [200, 160, 40] },
  dog: { train: 2, test: 1, rgb: [120, 60, 20] },
};
export const FIXTURE_TRAIN_PAIRS = 31;

export function captionsOf(id: string): string[] {
  const n = id === 'sheep-tr-5' ? 3 : 2;
  return Array.from({ length: n }, (_, i) => `${id} caption ${i}`);
}

export interface Fixture {
  ws: Workspace;
  entries: ManifestEntry[];
  cleanup(): void;
}

export async function makeFixture(name = 'tiny'): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), 'pl-poison-'));
  const ws = resolveWorkspace(root);
  const writer = new DatasetWriter(datasetDir(ws, name));
  const entries: ManifestEntry[] = [];
  for (const split of ['train', 'test'] as Split[]) {
    for (const [label, c] of Object.entries(FIXTURE_CLASSES)) {
      const n = split === 'train' ? c.train : c.test;
      for (let i = 0; i < n; i++) {
        const id = `${label}-${split === 'train' ? 'tr' : 'te'}-${i}`;
        const file = `images/${id}.png`;
        await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: c.rgb[0], g: c.rgb[1], b: (c.rgb[2] + i * 5) % 256 } } })
          .png()
          .toFile(writer.pathFor(file));
        const e: ManifestEntry = { id, file, split, label, labels: [label], captions: captionsOf(id), meta: {} };
        entries.push(e);
        await writer.add(e);
      }
    }
  }
  await writer.finish({ name, source: 'test', params: {}, seed: 0, licence: 'test', attribution: [] });
  return { ws, entries, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
