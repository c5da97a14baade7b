import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import { once } from 'node:events';
import { UserError, NotFoundError } from '../core/errors.js';
import { writeJsonAtomic } from '../core/fsutil.js';
import { checkName, type Workspace } from '../core/workspace.js';
import { type Catalog, nowIso, replaceDataset } from '../core/catalog.js';

/** Dataset format (ARCHITECTURE.md §2). */
export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

export interface ManifestEntry {
  id: string;
  file: string;
  split: Split;
  label: string | null;
  labels: string[];
  captions: string[];
  meta: Record<string, unknown>;
}

export interface DatasetCard {
  name: string;
  source: string;
  classes: string[];
  counts: Record<Split, number>;
  params: Record<string, unknown>;
  seed: number | null;
  licence: string;
  attribution: string[];
  manifestSha256: string;
  createdAt: string;
  [extra: string]: unknown;
}

/** What a generator or importer says about its dataset; the writer adds counts and hashes. */
export interface DatasetCardInput {
  name: string;
  source: string;
  classes?: string[];
  params: Record<string, unknown>;
  seed: number | null;
  licence: string;
  attribution: string[];
  [extra: string]: unknown;
}

export interface Dataset {
  name: string;
  dir: string;
  card: DatasetCard;
  entries: ManifestEntry[];
}

export function datasetDir(ws: Workspace, name: string): string {
  return join(ws.datasets, checkName(name, 'dataset name'));
}

/**
 * Writes a dataset folder incrementally (images and manifest lines streamed, so 200,000 images
 * never sit in memory) into a temp folder that replaces the final one only on `finish`.
 */
export class DatasetWriter {
  readonly tmpDir: string;
  private readonly manifest: WriteStream;
  private readonly hash = createHash('sha256');
  private readonly ids = new Set<string>();
  private readonly counts: Record<Split, number> = { train: 0, val: 0, test: 0 };
  private readonly classes = new Set<string>();
  private closed = false;

  constructor(readonly finalDir: string) {
    mkdirSync(dirname(finalDir), { recursive: true });
    this.tmpDir = join(dirname(finalDir), `.${basename(finalDir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(join(this.tmpDir, 'images'), { recursive: true });
    this.manifest = createWriteStream(join(this.tmpDir, 'manifest.jsonl'));
  }

  /** Absolute path in the temp folder for a dataset-relative file. */
  pathFor(file: string): string {
    return join(this.tmpDir, file);
  }

  /** Appends one manifest line; the image file must already be at `pathFor(entry.file)`. */
  async add(entry: ManifestEntry): Promise<void> {
    if (this.ids.has(entry.id)) throw new UserError(`duplicate image id ${JSON.stringify(entry.id)}`, 'duplicate_id');
    this.ids.add(entry.id);
    this.counts[entry.split]++;
    for (const l of entry.labels) this.classes.add(l);
    if (entry.label) this.classes.add(entry.label);
    const line = JSON.stringify(entry) + '\n';
    this.hash.update(line);
    if (!this.manifest.write(line)) await once(this.manifest, 'drain');
  }

  get size(): number {
    return this.ids.size;
  }

  /** Writes dataset.json and moves the folder into place; returns the card. */
  async finish(card: DatasetCardInput): Promise<DatasetCard> {
    this.manifest.end();
    await once(this.manifest, 'finish');
    this.closed = true;
    const full: DatasetCard = {
      ...card,
      classes: card.classes ?? [...this.classes].sort(),
      counts: { ...this.counts },
      manifestSha256: this.hash.digest('hex'),
      createdAt: nowIso(),
    };
    writeJsonAtomic(join(this.tmpDir, 'dataset.json'), full);
    if (existsSync(this.finalDir)) {
      const old = `${this.tmpDir}.old`;
      renameSync(this.finalDir, old);
      renameSync(this.tmpDir, this.finalDir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(this.tmpDir, this.finalDir);
    }
    return full;
  }

  /**
   * Throws away everything written so far. Waits for the manifest stream to close first: its
   * asynchronous open could otherwise create the file inside a folder being removed.
   */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.manifest.on('error', () => {}); // nothing is wanted from it any more
      if (!this.manifest.closed) {
        const closed = once(this.manifest, 'close').catch(() => undefined);
        this.manifest.destroy();
        await closed;
      }
    }
    rmSync(this.tmpDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Reads a dataset folder: its card and every manifest line. */
export function readDataset(dir: string): Dataset {
  const cardPath = join(dir, 'dataset.json');
  if (!existsSync(cardPath)) throw new NotFoundError(`no dataset at ${dir} (dataset.json missing)`, 'dataset_not_found');
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as DatasetCard;
  const text = readFileSync(join(dir, 'manifest.jsonl'), 'utf8');
  const entries = text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as ManifestEntry);
  return { name: card.name, dir, card, entries };
}

export function loadDataset(ws: Workspace, name: string): Dataset {
  const dir = datasetDir(ws, name);
  if (!existsSync(dir)) throw new NotFoundError(`unknown dataset ${JSON.stringify(name)}; \`poisonlens data list\` shows the ones there are`, 'dataset_not_found');
  return readDataset(dir);
}

/** Records a dataset and its images in the catalog (replacing an older record of that name). */
export function registerDataset(db: Catalog, dataset: Dataset): void {
  const { card } = dataset;
  const record = { name: card.name, path: dataset.dir, source: card.source, manifestSha256: card.manifestSha256, classes: card.classes, counts: card.counts, card, createdAt: card.createdAt };
  replaceDataset(db, record, dataset.entries);
}
