import { readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../../core/errors.js';
import type { Split } from '../dataset.js';
import { cleanCaptions, isDir, isFile, readJsonFile, SkipLog, stem, type ImportOptions, type ImportPlan, type ImportRecord } from './common.js';

/** One image of a Karpathy split file (dataset_coco.json, dataset_flickr30k.json, …). */
interface KarpathyImage {
  filename: string;
  filepath?: string;
  split: string;
  cocoid?: number;
  sentences: { raw?: string }[];
}

interface KarpathyFile {
  dataset: string;
  images: KarpathyImage[];
}

// restval is the part of COCO val2014 that Karpathy's split gives to training.
const SPLIT_MAP: Record<string, Split> = { train: 'train', restval: 'train', val: 'val', test: 'test' };

/** Resolves --src to the split file: the file itself, or the one dataset_*.json in a folder. */
function findSplitFile(src: string): string {
  const path = resolve(src);
  if (isFile(path)) return path;
  if (!isDir(path)) throw new UserError(`--src ${path} does not exist`, 'missing_file');
  const found = readdirSync(path).filter((f) => /^dataset_.*\.json$/.test(f)).sort();
  if (found.length !== 1) {
    throw new UserError(`--src ${path} has ${found.length === 0 ? 'no' : 'several'} dataset_*.json files; name the Karpathy split file itself`, 'bad_layout');
  }
  return join(path, found[0]);
}

export function readKarpathyFile(src: string): { path: string; data: KarpathyFile } {
  const path = findSplitFile(src);
  const data = readJsonFile(path, 'Karpathy split file') as Partial<KarpathyFile> | null;
  if (!data || !Array.isArray(data.images)) throw new UserError(`${path} is not a Karpathy split file (no images[] array)`, 'bad_layout');
  return { path, data: { dataset: String(data.dataset ?? 'unknown'), images: data.images } };
}

/** filename → split, for importers that take their splits from a Karpathy file. */
export function karpathySplits(src: string): Map<string, Split> {
  const out = new Map<string, Split>();
  for (const img of readKarpathyFile(src).data.images) {
    const split = SPLIT_MAP[img?.split];
    if (split && typeof img.filename === 'string') out.set(img.filename, split);
  }
  return out;
}

/** Where an image of the split file lies under the images root; the first candidate that exists. */
function locate(root: string, img: KarpathyImage): string {
  const candidates = [
    join(root, img.filepath ?? '', img.filename),
    join(root, img.filename),
    join(root, 'flickr30k-images', img.filename),
    join(root, 'images', img.filepath ?? '', img.filename),
  ];
  return candidates.find(isFile) ?? candidates[0];
}

/** The Karpathy & Fei-Fei split files: captions and splits, no class labels. */
export async function planKarpathy(opts: ImportOptions): Promise<ImportPlan> {
  const { path, data } = readKarpathyFile(opts.src);
  const root = resolve(opts.images ?? dirname(path));
  if (!isDir(root)) throw new UserError(`--images ${root} is not a folder`, 'bad_layout');
  const skipped = new SkipLog();
  const records: ImportRecord[] = [];
  data.images.forEach((img, i) => {
    if (!img || typeof img.filename !== 'string' || !Array.isArray(img.sentences)) {
      skipped.add('malformed entry', `images[${i}]`);
      return;
    }
    const split = SPLIT_MAP[img.split];
    if (!split) {
      skipped.add('unknown split', `${img.filename} (${JSON.stringify(img.split)})`);
      return;
    }
    records.push({
      id: img.cocoid !== undefined ? String(img.cocoid) : stem(img.filename),
      src: locate(root, img),
      file: img.filepath ? `${img.filepath}/${img.filename}` : img.filename,
      captions: cleanCaptions(img.sentences.map((s) => s?.raw)),
      label: null,
      labels: [],
      split,
      meta: { karpathySplit: img.split },
    });
  });
  const name = data.dataset;
  return {
    source: 'karpathy',
    records,
    skipped,
    notes: [],
    params: { importer: 'karpathy', src: path, images: root, dataset: name, split: 'from the file; restval → train' },
    seed: null,
    licence: `Karpathy split of ${name}: captions and images keep the licences of the original ${name} dataset. See the original dataset's terms.`,
    attribution: [
      `A. Karpathy, L. Fei-Fei. Deep Visual-Semantic Alignments for Generating Image Descriptions. CVPR 2015 (${basename(path)}).`,
      `Images and captions: the ${name} dataset and its authors.`,
    ],
  };
}
