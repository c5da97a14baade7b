import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import { isDir, isImageName, SkipLog, stem, type ImportOptions, type ImportPlan, type ImportRecord } from './common.js';
import { halfPerClass } from './splits.js';

/** The 20 PASCAL VOC classes, spelled as VOC (and the attack goals) spell them. */
export const VOC_CLASSES = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
] as const;

// Other spellings seen in copies of PASCAL sentences and in COCO's names for the same classes.
const ALIASES: Record<string, string> = {
  airplane: 'aeroplane', plane: 'aeroplane', bike: 'bicycle', motorcycle: 'motorbike', table: 'diningtable',
  plant: 'pottedplant', tv: 'tvmonitor', monitor: 'tvmonitor', couch: 'sofa', people: 'person',
};

/** Maps a class folder name to its VOC class ("dining_table" → "diningtable"); null if none. */
export function vocClass(folder: string): string | null {
  const key = folder.toLowerCase().replace(/[^a-z]/g, '');
  if ((VOC_CLASSES as readonly string[]).includes(key)) return key;
  return ALIASES[key] ?? null;
}

/** PASCAL sentences: ROOT/dataset/<class>/<name>.jpg + ROOT/sentence/<class>/<name>.txt. */
export async function planPascal(opts: ImportOptions): Promise<ImportPlan> {
  const root = resolve(opts.src);
  const imageRoot = join(root, 'dataset');
  const sentenceRoot = join(root, 'sentence');
  if (!isDir(imageRoot) || !isDir(sentenceRoot)) {
    throw new UserError(`--src ${root} has no dataset/ or sentence/ folder (expected ROOT/dataset/<class>/<name>.jpg and ROOT/sentence/<class>/<name>.txt)`, 'bad_layout');
  }
  const folders = readdirSync(imageRoot).filter((f) => isDir(join(imageRoot, f))).sort();
  if (folders.length === 0) throw new UserError(`--src ${root}: dataset/ has no class folders`, 'bad_layout');
  const skipped = new SkipLog();
  const notes: string[] = [];
  const records: ImportRecord[] = [];
  for (const folder of folders) {
    const known = vocClass(folder);
    const label = known ?? folder.toLowerCase();
    if (!known) notes.push(`class folder ${folder} is not a PASCAL VOC class; kept as label "${label}"`);
    const images = readdirSync(join(imageRoot, folder)).filter(isImageName).sort();
    const stems = new Set(images.map(stem));
    for (const name of images) {
      const txt = join(sentenceRoot, folder, `${stem(name)}.txt`);
      if (!existsSync(txt)) {
        skipped.add('missing caption file', `sentence/${folder}/${stem(name)}.txt`);
        continue;
      }
      records.push({
        id: stem(name),
        src: join(imageRoot, folder, name),
        file: `${label}/${name}`,
        captions: readFileSync(txt, 'utf8').split(/\r?\n/),
        label,
        labels: [label],
        split: null,
        meta: { source: `dataset/${folder}/${name}` },
      });
    }
    // Sentences whose image is gone are worth reporting: they usually mean a partial copy.
    const sentenceDir = join(sentenceRoot, folder);
    if (isDir(sentenceDir)) {
      for (const t of readdirSync(sentenceDir).filter((f) => f.endsWith('.txt')).sort()) {
        if (!stems.has(stem(t))) skipped.add('missing image file', `dataset/${folder}/${stem(t)}.jpg`);
      }
    }
  }
  return {
    source: 'pascal',
    records,
    skipped,
    notes,
    params: { importer: 'pascal', src: root, split: 'per class: half test (rounded down), rest train' },
    seed: opts.seed,
    licence: 'PASCAL Sentences: captions for research use; images from PASCAL VOC 2008 (Flickr photographs under their owners\' terms). See the original dataset\'s terms.',
    attribution: [
      'C. Rashtchian, P. Young, M. Hodosh, J. Hockenmaier. Collecting Image Annotations Using Amazon\'s Mechanical Turk. NAACL-HLT 2010 Workshop (PASCAL Sentences).',
      'M. Everingham et al. The PASCAL Visual Object Classes Challenge 2008 (VOC2008).',
    ],
    assignSplits: (usable) => halfPerClass(usable, new Rng(opts.seed)),
  };
}
