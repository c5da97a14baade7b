import { join, resolve } from 'node:path';
import { UserError } from '../../core/errors.js';
import { hashString, Rng } from '../../core/random.js';
import { isDir, isFile, readJsonFile, SkipLog, type ImportOptions, type ImportPlan, type ImportRecord } from './common.js';
import { balancedTest } from './splits.js';

interface CaptionsJson {
  images: { id: number; file_name: string; width?: number; height?: number; license?: number }[];
  annotations: { id?: number; image_id: number; caption: string }[];
}

interface InstancesJson {
  categories: { id: number; name: string }[];
  annotations: { image_id: number; category_id: number }[];
}

/** One annotation file pair and its image folder, e.g. captions_val2014.json + val2014/. */
interface Part {
  split: 'train' | 'val';
  year: string;
  captions: string;
  instances: string | null;
  imageDir: string;
}

const YEARS = ['2014', '2017'];

function findParts(root: string, year: string | undefined): Part[] {
  const ann = join(root, 'annotations');
  if (!isDir(ann)) throw new UserError(`--src ${root} has no annotations/ folder`, 'bad_layout');
  if (year !== undefined && !YEARS.includes(year)) throw new UserError(`--year must be 2014 or 2017, got ${year}`, 'bad_flags');
  // The first year with any captions file wins, so a folder holding both imports one release.
  for (const y of year ? [year] : YEARS) {
    const parts: Part[] = [];
    for (const split of ['train', 'val'] as const) {
      const captions = join(ann, `captions_${split}${y}.json`);
      if (!isFile(captions)) continue;
      const folder = `${split}${y}`;
      const imageDir = [join(root, folder), join(root, 'images', folder)].find(isDir);
      if (!imageDir) throw new UserError(`--src ${root} has no ${folder}/ folder for annotations/captions_${folder}.json`, 'bad_layout');
      const instances = join(ann, `instances_${folder}.json`);
      parts.push({ split, year: y, captions, instances: isFile(instances) ? instances : null, imageDir });
    }
    if (parts.length) return parts;
  }
  const y = year ?? YEARS[0];
  throw new UserError(`--src ${root}: annotations/ has no captions_train${y}.json or captions_val${y}.json${year ? '' : ' (nor 2017)'}`, 'bad_layout');
}

/** The paper's COCO choices (Yang et al. 2023, §5.1): 78 classes, 50 test images each (3,900). */
export const PAPER_COCO = { dropClasses: ['toaster', 'hair drier'], testPerClass: 50 } as const;

/** image id → category names, one entry per instance (so a draw from it is frequency-weighted). */
function readInstances(path: string, drop: ReadonlySet<string> = new Set()): Map<number, string[]> {
  const data = readJsonFile(path, 'COCO instances file') as Partial<InstancesJson> | null;
  if (!data || !Array.isArray(data.categories) || !Array.isArray(data.annotations)) {
    throw new UserError(`${path} is not a COCO instances file (no categories[] or annotations[])`, 'bad_layout');
  }
  // A dropped class is no class at all: its instances are removed before the label draw, so an
  // image with a toaster and a person is a person image, and one with only a toaster is unlabelled.
  const names = new Map(data.categories.filter((c) => !drop.has(c.name)).map((c) => [c.id, c.name]));
  const out = new Map<number, number[]>();
  for (const a of data.annotations) {
    if (!names.has(a?.category_id)) continue;
    if (!out.has(a.image_id)) out.set(a.image_id, []);
    out.get(a.image_id)!.push(a.category_id);
  }
  // Category-id order, not file order, so the draw does not depend on how the file was written.
  return new Map([...out].map(([img, cats]) => [img, cats.sort((x, y) => x - y).map((c) => names.get(c)!)]));
}

/**
 * The paper's label rule: one of the image's instance categories drawn at random, each instance
 * one ticket. Seeded per image id so an image's label does not move when others are skipped.
 */
export function drawLabel(instances: string[], seed: number, id: string): string | null {
  if (instances.length === 0) return null;
  return new Rng(hashString(`${seed}:${id}`)).pick(instances);
}

function readPart(part: Part, seed: number, skipped: SkipLog, drop: ReadonlySet<string>): ImportRecord[] {
  const data = readJsonFile(part.captions, 'COCO captions file') as Partial<CaptionsJson> | null;
  if (!data || !Array.isArray(data.images) || !Array.isArray(data.annotations)) {
    throw new UserError(`${part.captions} is not a COCO captions file (no images[] or annotations[])`, 'bad_layout');
  }
  const captions = new Map<number, { id: number; caption: string }[]>();
  data.annotations.forEach((a, i) => {
    if (!captions.has(a?.image_id)) captions.set(a?.image_id, []);
    captions.get(a.image_id)!.push({ id: a.id ?? i, caption: a.caption });
  });
  const instances = part.instances ? readInstances(part.instances, drop) : null;
  const folder = `${part.split}${part.year}`;
  const records: ImportRecord[] = [];
  for (const img of data.images) {
    if (!img || typeof img.file_name !== 'string' || img.id === undefined) {
      skipped.add('malformed entry', `${folder} ${JSON.stringify(img).slice(0, 60)}`);
      continue;
    }
    const id = String(img.id);
    const cats = instances?.get(img.id) ?? [];
    records.push({
      id,
      src: join(part.imageDir, img.file_name),
      file: `${folder}/${img.file_name}`,
      captions: (captions.get(img.id) ?? []).sort((a, b) => a.id - b.id).map((c) => c.caption),
      label: drawLabel(cats, seed, id),
      labels: [...new Set(cats)].sort(),
      split: null,
      meta: { cocoSplit: folder, ...(img.license !== undefined ? { license: img.license } : {}) },
    });
  }
  return records;
}

/** COCO captions (2014 or 2017) with labels from the instances files. */
export async function planCoco(opts: ImportOptions): Promise<ImportPlan> {
  const root = resolve(opts.src);
  if (!isDir(root)) throw new UserError(`--src ${root} is not a folder`, 'bad_layout');
  const parts = findParts(root, opts.year);
  const perClass = opts.testPerClass;
  if (perClass !== undefined && parts.every((p) => p.instances === null)) {
    throw new UserError(`--test-per-class needs labels, but annotations/ has no instances_<split>${parts[0].year}.json`, 'bad_layout');
  }
  const skipped = new SkipLog();
  const notes = parts.filter((p) => !p.instances).map((p) => `no instances_${p.split}${p.year}.json: ${p.split}${p.year} images have no labels`);
  const drop = new Set(opts.dropClasses ?? []);
  if (drop.size && parts.every((p) => p.instances === null)) {
    throw new UserError(`--drop-classes needs labels, but annotations/ has no instances_<split>${parts[0].year}.json`, 'bad_layout');
  }
  const records = parts.flatMap((p) => readPart(p, opts.seed, skipped, drop));
  const splitRule =
    perClass === undefined
      ? 'COCO train → train, COCO val → test'
      : `${perClass} test images per class drawn among all labelled images (classes with fewer left out); the rest: COCO train → train, COCO val → val`;
  return {
    source: 'coco',
    records,
    skipped,
    notes,
    params: {
      importer: 'coco',
      src: root,
      year: parts[0].year,
      parts: parts.map((p) => `${p.split}${p.year}`),
      label: 'one instance category per image, drawn with probability proportional to its instance count (seeded per image id)',
      split: splitRule,
      ...(perClass !== undefined ? { testPerClass: perClass } : {}),
      ...(drop.size ? { dropClasses: [...drop].sort() } : {}),
    },
    seed: opts.seed,
    licence: 'COCO: annotations under CC BY 4.0; images are Flickr photographs under their own licences (each image\'s `license` id in meta). See the original dataset\'s terms.',
    attribution: [
      'T.-Y. Lin et al. Microsoft COCO: Common Objects in Context. ECCV 2014.',
      'X. Chen et al. Microsoft COCO Captions: Data Collection and Evaluation Server. 2015.',
    ],
    assignSplits: (usable) => {
      let leftOut: string[] = [];
      if (perClass !== undefined) {
        leftOut = balancedTest(usable, perClass, new Rng(opts.seed));
        if (leftOut.length) notes.push(`classes with fewer than ${perClass} labelled images stay out of the test split: ${leftOut.join(', ')}`);
      }
      for (const r of usable) {
        if (r.split !== null) continue;
        const fromTrain = String(r.meta.cocoSplit).startsWith('train');
        r.split = fromTrain ? 'train' : perClass === undefined ? 'test' : 'val';
      }
      return perClass !== undefined ? { classesLeftOutOfTest: leftOut } : {};
    },
  };
}
