import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, posix } from 'node:path';
import sharp from 'sharp';
import { UserError } from '../../core/errors.js';
import { Progress } from '../../core/progress.js';
import { DatasetWriter, type DatasetCard, type ManifestEntry, type Split } from '../dataset.js';

/**
 * What every importer hands to the shared writer: one candidate image with its captions. The
 * writer does all the checks that are the same for every source (file present, image decodes,
 * captions non-empty, ids unique), so importers only read their own layout.
 */
export interface ImportRecord {
  id: string;
  /** Absolute path of the source image. */
  src: string;
  /** Path inside the dataset's images/ folder (posix, relative, no `..`). */
  file: string;
  captions: string[];
  label: string | null;
  labels: string[];
  /** null: the plan's `assignSplits` decides, after unusable records are dropped. */
  split: Split | null;
  meta: Record<string, unknown>;
}

/** An importer's output: the records plus everything dataset.json must say about them. */
export interface ImportPlan {
  source: string;
  records: ImportRecord[];
  /** Problems the importer already found while reading its layout. */
  skipped: SkipLog;
  params: Record<string, unknown>;
  seed: number | null;
  licence: string;
  attribution: string[];
  /**
   * Sets `split` on the usable records whose split is null (seeded choices live here); what it
   * returns (e.g. the resolved holdout sizes) is merged into `params`.
   */
  assignSplits?: (usable: ImportRecord[]) => Record<string, unknown> | void;
  /** Facts worth telling the user that are not skips (e.g. a class too small for the test split). */
  notes: string[];
}

/** Options shared by every importer; each importer says which of the optional ones it reads. */
export interface ImportOptions {
  src: string;
  seed: number;
  images?: string;
  karpathy?: string;
  year?: string;
  testPerClass?: number;
  /** COCO: classes removed before labels are drawn (the paper drops toaster and hair drier). */
  dropClasses?: string[];
  /** flickr-pascal: the Flickr30k folder (--src is the PASCAL sentences folder). */
  flickr30k?: string;
  valCount?: number;
  testCount?: number;
}

const EXAMPLES = 3;

/** Counts skipped items per reason and keeps the first few examples of each. */
export class SkipLog {
  private readonly reasons = new Map<string, { count: number; examples: string[] }>();

  add(reason: string, example: string): void {
    let r = this.reasons.get(reason);
    if (!r) this.reasons.set(reason, (r = { count: 0, examples: [] }));
    r.count++;
    if (r.examples.length < EXAMPLES) r.examples.push(example);
  }

  get total(): number {
    let n = 0;
    for (const r of this.reasons.values()) n += r.count;
    return n;
  }

  toJSON(): Record<string, { count: number; examples: string[] }> {
    return Object.fromEntries([...this.reasons].map(([k, v]) => [k, { count: v.count, examples: [...v.examples] }]));
  }

  /** One line: "skipped 3: 2 unreadable image (e.g. a.jpg, b.jpg); 1 empty captions (e.g. c)". */
  summary(): string {
    if (this.total === 0) return 'skipped 0';
    const parts = [...this.reasons].map(([k, v]) => `${v.count} ${k} (e.g. ${v.examples.join(', ')})`);
    return `skipped ${this.total}: ${parts.join('; ')}`;
  }
}

export interface WriteImportOptions {
  /** Copy instead of hard-linking. */
  copy?: boolean;
  quiet?: boolean;
  /** Images validated and placed at once (sharp decodes headers on libuv's thread pool). */
  concurrency?: number;
}

export interface ImportResult {
  card: DatasetCard;
  skipped: SkipLog;
  notes: string[];
}

/**
 * Validates every record, places its image, assigns splits and writes the dataset folder
 * atomically. Throws a UserError (leaving nothing behind) when nothing usable remains.
 */
export async function writeImport(finalDir: string, name: string, plan: ImportPlan, opts: WriteImportOptions = {}): Promise<ImportResult> {
  const { skipped } = plan;
  const writer = new DatasetWriter(finalDir);
  try {
    const usable: ImportRecord[] = [];
    const seenIds = new Set<string>();
    const seenFiles = new Set<string>();
    const progress = new Progress({ label: `import ${plan.source}`, total: plan.records.length, unit: 'img', quiet: opts.quiet });
    const batch = Math.max(1, opts.concurrency ?? 16);
    for (let i = 0; i < plan.records.length; i += batch) {
      const chunk = plan.records.slice(i, i + batch);
      // Cheap checks first and in order, so "first occurrence wins" for duplicates is deterministic.
      const candidates = chunk.filter((r) => precheck(r, seenIds, seenFiles, skipped));
      const ok = await Promise.all(candidates.map((r) => placeImage(r, writer, skipped, opts.copy ?? false)));
      candidates.forEach((r, k) => ok[k] && usable.push(r));
      progress.tick(chunk.length, `kept ${usable.length}`);
    }
    progress.finish(`kept ${usable.length}`);
    if (usable.length === 0) {
      const why = plan.records.length === 0 ? 'no images found' : `all ${plan.records.length} images were unusable`;
      throw new UserError(`nothing to import from ${plan.params.src ?? plan.source}: ${why} (${skipped.summary()})`, 'nothing_to_import');
    }
    const splitFacts = usable.some((r) => r.split === null) ? plan.assignSplits?.(usable) : undefined;
    for (const r of usable) {
      if (r.split === null) throw new Error(`importer ${plan.source} left ${r.id} without a split`);
      await writer.add(toEntry(r));
    }
    if (!usable.some((r) => r.split === 'test')) plan.notes.push('the test split is empty: evaluation and search need one');
    const card = await writer.finish({
      name,
      source: plan.source,
      params: { ...plan.params, ...splitFacts },
      seed: plan.seed,
      licence: plan.licence,
      attribution: plan.attribution,
      skipped: skipped.toJSON(),
      notes: plan.notes,
    });
    return { card, skipped, notes: plan.notes };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

function toEntry(r: ImportRecord): ManifestEntry {
  return { id: r.id, file: `images/${r.file}`, split: r.split as Split, label: r.label, labels: r.labels, captions: r.captions, meta: r.meta };
}

/** Checks that need no I/O beyond a stat: ids, file names, captions, the file's presence. */
function precheck(r: ImportRecord, seenIds: Set<string>, seenFiles: Set<string>, skipped: SkipLog): boolean {
  r.captions = cleanCaptions(r.captions);
  if (r.id === '') return skipped.add('empty id', r.src), false;
  if (seenIds.has(r.id)) return skipped.add('duplicate id', r.id), false;
  seenIds.add(r.id);
  if (r.captions.length === 0) return skipped.add('empty captions', r.id), false;
  const file = safeRelative(r.file);
  if (!file) return skipped.add('unsafe file name', r.file), false;
  r.file = file;
  if (seenFiles.has(file)) return skipped.add('duplicate file name', file), false;
  seenFiles.add(file);
  if (!isFile(r.src)) return skipped.add('missing image file', r.src), false;
  return true;
}

/** Decodes the header (catches non-images and truncated headers), then links or copies it in. */
async function placeImage(r: ImportRecord, writer: DatasetWriter, skipped: SkipLog, copy: boolean): Promise<boolean> {
  const info = await sharp(r.src)
    .metadata()
    .catch((err: Error) => void skipped.add('unreadable image', `${r.src} (${err.message.split('\n')[0]})`));
  if (!info) return false;
  // The dataset format (ARCHITECTURE.md §2) promises PNG or JPEG to every reader.
  if (info.format !== 'jpeg' && info.format !== 'png') {
    skipped.add('unsupported image format', `${r.src} (${info.format})`);
    return false;
  }
  if (!info.width || !info.height) {
    skipped.add('unreadable image', `${r.src} (no size in header)`);
    return false;
  }
  r.meta = { ...r.meta, width: info.width, height: info.height };
  const dst = writer.pathFor(`images/${r.file}`);
  mkdirSync(dirname(dst), { recursive: true });
  placeFile(r.src, dst, copy);
  return true;
}

/** A hard link costs no space when source and workspace share a filesystem; otherwise copy. */
export function placeFile(src: string, dst: string, copy: boolean): void {
  if (!copy) {
    try {
      linkSync(src, dst);
      return;
    } catch {
      // EXDEV (another filesystem), EPERM (filesystem without links): fall through to a copy.
    }
  }
  copyFileSync(src, dst);
}

/** Trims, collapses whitespace and drops empty captions. */
export function cleanCaptions(captions: unknown[]): string[] {
  return captions.filter((c): c is string => typeof c === 'string').map((c) => c.replace(/\s+/g, ' ').trim()).filter((c) => c.length > 0);
}

/** A posix path relative to images/, or null when it would escape it. */
export function safeRelative(file: string): string | null {
  const norm = posix.normalize(file.replace(/\\/g, '/'));
  if (norm === '.' || norm.startsWith('/') || norm.split('/').some((s) => s === '..' || s === '')) return null;
  return norm;
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The file name without its extension: the id most layouts use. */
export function stem(name: string): string {
  const base = posix.basename(name.replace(/\\/g, '/'));
  return base.slice(0, base.length - extname(base).length);
}

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);

export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** Reads and parses a JSON file, naming the file in the one-line error. */
export function readJsonFile(path: string, what: string): unknown {
  if (!existsSync(path)) throw new UserError(`${what} ${path} does not exist`, 'missing_file');
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${what} ${path} is not valid JSON (${(err as Error).message.split('\n')[0]})`, 'bad_input');
  }
}

/** Plain `<` ordering: the same on every machine, unlike localeCompare. */
export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
