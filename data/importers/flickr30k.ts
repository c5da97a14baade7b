import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../../core/errors.js';
import { isDir, isFile, isImageName, SkipLog, stem, type ImportOptions, type ImportPlan, type ImportRecord } from './common.js';
import { karpathySplits } from './karpathy.js';
import { seededHoldout } from './splits.js';

// The official release names the folder with a dash; the widely used re-packaging with an underscore.
const IMAGE_DIRS = ['flickr30k-images', 'flickr30k_images'];
const CAPTION_FILES = ['results_20130124.token', 'results.csv'];

type Captions = Map<string, { n: number; text: string }[]>;

/** `1000092795.jpg#0<TAB>Two young guys …` */
function parseToken(text: string, skipped: SkipLog): Captions {
  const out: Captions = new Map();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^([^#\t]+)#(\d+)\t(.*)$/.exec(line);
    if (!m) return skipped.add('malformed caption line', `results_20130124.token line ${i + 1}`);
    add(out, m[1].trim(), Number(m[2]), m[3]);
  });
  return out;
}

/**
 * `image_name| comment_number| comment` with a header. The common copy has a row whose second
 * separator is missing (`name.jpg| 4 A dog …`); the optional `|` reads it as comment 4.
 */
function parseCsv(text: string, skipped: SkipLog): Captions {
  const out: Captions = new Map();
  const lines = text.split(/\r?\n/);
  if (!/^\s*image_name\s*\|/.test(lines[0] ?? '')) {
    throw new UserError('results.csv has no `image_name| comment_number| comment` header', 'bad_layout');
  }
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^([^|]+)\|\s*(\d+)\s*\|?(.*)$/.exec(line);
    if (!m) return skipped.add('malformed caption line', `results.csv line ${i + 2}`);
    add(out, m[1].trim(), Number(m[2]), m[3]);
  });
  return out;
}

function add(out: Captions, image: string, n: number, text: string): void {
  if (!out.has(image)) out.set(image, []);
  out.get(image)!.push({ n, text });
}

/** Flickr30k: ROOT/flickr30k-images/*.jpg with results_20130124.token or results.csv. */
export async function planFlickr30k(opts: ImportOptions): Promise<ImportPlan> {
  const root = resolve(opts.src);
  if (!isDir(root)) throw new UserError(`--src ${root} is not a folder`, 'bad_layout');
  const imageDir = IMAGE_DIRS.map((d) => join(root, d)).find(isDir);
  if (!imageDir) throw new UserError(`--src ${root} has no flickr30k-images/ folder`, 'bad_layout');
  const captionFile = CAPTION_FILES.map((f) => join(root, f)).find(isFile);
  if (!captionFile) throw new UserError(`--src ${root} has neither results_20130124.token nor results.csv`, 'bad_layout');

  const skipped = new SkipLog();
  const text = readFileSync(captionFile, 'utf8');
  const captions = captionFile.endsWith('.csv') ? parseCsv(text, skipped) : parseToken(text, skipped);
  const splits = opts.karpathy ? karpathySplits(opts.karpathy) : null;

  const records: ImportRecord[] = [];
  for (const name of [...captions.keys()].sort()) {
    const split = splits ? splits.get(name) : null;
    if (split === undefined) {
      skipped.add('not in the Karpathy split file', name);
      continue;
    }
    records.push({
      id: stem(name),
      src: join(imageDir, name),
      file: name,
      captions: captions.get(name)!.sort((a, b) => a.n - b.n).map((c) => c.text),
      label: null,
      labels: [],
      split,
      meta: {},
    });
  }
  for (const name of readdirSync(imageDir).filter(isImageName).sort()) {
    if (!captions.has(name)) skipped.add('no captions', name);
  }
  const seeded = splits === null;
  return {
    source: 'flickr30k',
    records,
    skipped,
    notes: [],
    params: {
      importer: 'flickr30k',
      src: root,
      captions: captionFile,
      split: seeded ? 'seeded random: val and test holdouts, rest train' : `from Karpathy file ${resolve(opts.karpathy!)}`,
    },
    seed: seeded ? opts.seed : null,
    licence: 'Flickr30k: captions for non-commercial research and educational use; images are Flickr photographs under their owners\' terms. See the original dataset\'s terms.',
    attribution: [
      'P. Young, A. Lai, M. Hodosh, J. Hockenmaier. From image descriptions to visual denotations. TACL 2014 (Flickr30k).',
    ],
    assignSplits: (usable) => seededHoldout(usable, opts),
  };
}
