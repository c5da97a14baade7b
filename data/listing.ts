import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../core/workspace.js';
import { loadDataset, type DatasetCard } from './dataset.js';

export interface DatasetSummary {
  name: string;
  source: string;
  dir: string;
  counts: DatasetCard['counts'];
  classes: string[];
}

/** Every dataset folder in the workspace with a readable dataset.json, by name. */
export function listDatasets(ws: Workspace): DatasetSummary[] {
  if (!existsSync(ws.datasets)) return [];
  const out: DatasetSummary[] = [];
  for (const name of readdirSync(ws.datasets).sort()) {
    if (name.startsWith('.')) continue; // temp folders of writes in progress
    const cardPath = join(ws.datasets, name, 'dataset.json');
    if (!existsSync(cardPath)) continue;
    const card = JSON.parse(readFileSync(cardPath, 'utf8')) as DatasetCard;
    out.push({ name: card.name, source: card.source, dir: join(ws.datasets, name), counts: card.counts, classes: card.classes });
  }
  return out;
}

export interface DatasetDescription extends DatasetSummary {
  testPerClass: Record<string, number>;
  sampleCaptions: string[];
  card: DatasetCard;
}

export function describeDataset(ws: Workspace, name: string, samples = 8): DatasetDescription {
  const d = loadDataset(ws, name);
  const testPerClass: Record<string, number> = {};
  for (const e of d.entries) if (e.split === 'test' && e.label) testPerClass[e.label] = (testPerClass[e.label] ?? 0) + 1;
  const step = Math.max(1, Math.floor(d.entries.length / samples));
  const sampleCaptions: string[] = [];
  for (let i = 0; i < d.entries.length && sampleCaptions.length < samples; i += step) sampleCaptions.push(d.entries[i].captions[0]);
  return {
    name: d.card.name,
    source: d.card.source,
    dir: d.dir,
    counts: d.card.counts,
    classes: d.card.classes,
    testPerClass,
    sampleCaptions,
    card: d.card,
  };
}
