import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { UserError } from '../../core/errors.js';
import { SPLITS, type Split } from '../dataset.js';
import { isFile, safeRelative, SkipLog, stem, type ImportOptions, type ImportPlan, type ImportRecord } from './common.js';
import { seededHoldout } from './splits.js';

/** One line of a generic manifest: `{image, caption|captions, label?, labels?, split?, id?, meta?}`. */
interface Line {
  image?: unknown;
  caption?: unknown;
  captions?: unknown;
  label?: unknown;
  labels?: unknown;
  split?: unknown;
  id?: unknown;
  meta?: unknown;
}

/** Turns one parsed line into a record, or says why it cannot be one. */
function toRecord(line: Line, base: string): ImportRecord | string {
  if (typeof line.image !== 'string' || line.image === '') return 'no "image" path';
  const captions = [...(Array.isArray(line.captions) ? line.captions : []), ...(line.caption !== undefined ? [line.caption] : [])];
  if (line.label !== undefined && line.label !== null && typeof line.label !== 'string') return '"label" is not a string';
  if (line.labels !== undefined && !(Array.isArray(line.labels) && line.labels.every((l) => typeof l === 'string'))) return '"labels" is not a list of strings';
  const split = line.split === undefined || line.split === null ? null : line.split;
  if (split !== null && !SPLITS.includes(split as Split)) return `unknown split ${JSON.stringify(split)}`;
  const src = resolve(base, line.image);
  // Keep the manifest's own folder structure when the image sits under it; else its base name.
  const rel = relative(base, src);
  const file = !isAbsolute(rel) && safeRelative(rel) ? rel : basename(src);
  const label = (line.label as string | null | undefined) ?? null;
  const labels = (line.labels as string[] | undefined) ?? (label ? [label] : []);
  const id = typeof line.id === 'string' || typeof line.id === 'number' ? String(line.id) : file.slice(0, file.length - basename(file).length) + stem(file);
  const meta = line.meta && typeof line.meta === 'object' && !Array.isArray(line.meta) ? (line.meta as Record<string, unknown>) : {};
  return { id, src, file, captions, label, labels: [...new Set(labels)].sort(), split: split as Split | null, meta };
}

/** A generic JSON-lines manifest; image paths are relative to the manifest's folder. */
export async function planJsonl(opts: ImportOptions): Promise<ImportPlan> {
  const path = resolve(opts.src);
  if (!isFile(path)) throw new UserError(`--src ${path} is not a file (jsonl wants the manifest file itself)`, 'bad_layout');
  const base = dirname(path);
  const skipped = new SkipLog();
  const records: ImportRecord[] = [];
  readFileSync(path, 'utf8').split(/\r?\n/).forEach((text, i) => {
    if (text.trim() === '') return;
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      return skipped.add('malformed line', `line ${i + 1} (not JSON)`);
    }
    if (!line || typeof line !== 'object' || Array.isArray(line)) return skipped.add('malformed line', `line ${i + 1} (not an object)`);
    const r = toRecord(line as Line, base);
    if (typeof r === 'string') skipped.add('malformed line', `line ${i + 1} (${r})`);
    else records.push(r);
  });
  if (records.length === 0 && skipped.total === 0) throw new UserError(`--src ${path} has no lines`, 'bad_input');
  const seeded = records.some((r) => r.split === null);
  return {
    source: 'jsonl',
    records,
    skipped,
    notes: [],
    params: { importer: 'jsonl', src: path, split: seeded ? 'from the lines; lines without one: seeded val and test holdouts, rest train' : 'from the lines' },
    seed: seeded ? opts.seed : null,
    licence: 'Unknown: imported from a generic manifest; the images and captions keep their original licences. See the original dataset\'s terms.',
    attribution: [`Imported from ${basename(path)}; credit the original dataset's authors.`],
    assignSplits: (usable) => seededHoldout(usable, opts),
  };
}
