import { existsSync } from 'node:fs';
import { UserError } from '../../core/errors.js';
import { openCatalog } from '../../core/catalog.js';
import type { Workspace } from '../../core/workspace.js';
import { datasetDir, readDataset, registerDataset } from '../dataset.js';
import { writeImport, type ImportOptions, type ImportPlan, type ImportResult, type WriteImportOptions } from './common.js';
import { planCoco } from './coco.js';
import { planFlickr30k } from './flickr30k.js';
import { planFlickrPascal } from './flickr-pascal.js';
import { planJsonl } from './jsonl.js';
import { planKarpathy } from './karpathy.js';
import { planPascal } from './pascal.js';

/** The optional ImportOptions keys; each importer names the ones it reads. */
export type ImporterOption = Exclude<keyof ImportOptions, 'src' | 'seed'>;

export interface Importer {
  name: string;
  summary: string;
  options: readonly ImporterOption[];
  plan(opts: ImportOptions): Promise<ImportPlan>;
}

/** Every importer by name; all share one signature (options in, a plan of records out). */
export const IMPORTERS: Record<string, Importer> = {
  pascal: { name: 'pascal', summary: 'PASCAL sentences: dataset/<class>/*.jpg + sentence/<class>/*.txt; half train, half test per class', options: [], plan: planPascal },
  flickr30k: { name: 'flickr30k', summary: 'Flickr30k: flickr30k-images/ + results_20130124.token or results.csv; no labels', options: ['karpathy', 'valCount', 'testCount'], plan: planFlickr30k },
  'flickr-pascal': {
    name: 'flickr-pascal',
    summary: "the paper's Flickr-PASCAL: PASCAL sentences (--src) half train / half test per class + all of Flickr30k (--flickr30k DIR) as unlabelled train pairs",
    options: ['flickr30k'],
    plan: planFlickrPascal,
  },
  coco: {
    name: 'coco',
    summary: "COCO: annotations/captions_*.json + instances_*.json, images in train2014/ val2014/ (or 2017); --paper: the paper's choices (drop toaster and hair drier, 50 test images per class)",
    options: ['year', 'testPerClass', 'dropClasses'],
    plan: planCoco,
  },
  karpathy: { name: 'karpathy', summary: 'Karpathy split file dataset_coco.json / dataset_flickr30k.json; images under --images', options: ['images'], plan: planKarpathy },
  jsonl: { name: 'jsonl', summary: 'generic manifest: one {image, caption|captions, label?, split?} per line', options: ['valCount', 'testCount'], plan: planJsonl },
};

export function getImporter(name: string | undefined): Importer {
  const importer = name ? IMPORTERS[name] : undefined;
  if (!importer) throw new UserError(`unknown importer ${JSON.stringify(name ?? '')}; one of: ${Object.keys(IMPORTERS).join(', ')}`, 'bad_flags');
  return importer;
}

export interface ImportRequest extends WriteImportOptions {
  name: string;
  force?: boolean;
}

/** Plans, writes and catalogs one imported dataset; refuses to replace one unless `force`. */
export async function importDataset(ws: Workspace, importerName: string, opts: ImportOptions, req: ImportRequest): Promise<ImportResult> {
  const importer = getImporter(importerName);
  const dir = datasetDir(ws, req.name);
  if (existsSync(dir) && !req.force) throw new UserError(`dataset ${req.name} already exists at ${dir}; pass --force to replace it`, 'exists');
  const plan = await importer.plan(opts);
  const result = await writeImport(dir, req.name, plan, req);
  const db = openCatalog(ws.catalogPath);
  try {
    registerDataset(db, readDataset(dir));
  } finally {
    db.close();
  }
  return result;
}

export type { ImportOptions, ImportResult } from './common.js';
