import { parseJsonColumn, type Catalog } from './connection.js';

/** The `datasets` table and its `images` (they cascade away with their dataset). */
export interface DatasetRecord {
  name: string;
  path: string;
  source: string;
  manifestSha256: string;
  classes: string[];
  counts: Record<string, number>;
  /** The whole dataset.json. */
  card: unknown;
  createdAt: string;
}

export interface ImageRecord {
  id: string;
  file: string;
  split: string;
  label: string | null;
  labels: string[];
  captions: string[];
}

/** Records a dataset and its images, replacing an older record of that name, in one transaction. */
export function replaceDataset(db: Catalog, d: DatasetRecord, images: Iterable<ImageRecord>): void {
  db.transaction(() => {
    db.prepare('DELETE FROM datasets WHERE name = ?').run(d.name);
    db.prepare(
      `INSERT INTO datasets (name, path, source, manifest_sha256, classes, counts, card, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(d.name, d.path, d.source, d.manifestSha256, JSON.stringify(d.classes), JSON.stringify(d.counts), JSON.stringify(d.card), d.createdAt);
    const insert = db.prepare('INSERT INTO images (dataset, id, file, split, label, labels, captions) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const e of images) insert.run(d.name, e.id, e.file, e.split, e.label, JSON.stringify(e.labels), JSON.stringify(e.captions));
  })();
}

/** The record of dataset `name`, or null when the catalog has none. */
export function datasetRecord(db: Catalog, name: string): DatasetRecord | null {
  const r = db.prepare('SELECT * FROM datasets WHERE name = ?').get(name) as
    | { name: string; path: string; source: string; manifest_sha256: string; classes: string; counts: string; card: string; created_at: string }
    | undefined;
  if (!r) return null;
  return {
    name: r.name,
    path: r.path,
    source: r.source,
    manifestSha256: r.manifest_sha256,
    classes: JSON.parse(r.classes) as string[],
    counts: JSON.parse(r.counts) as Record<string, number>,
    card: parseJsonColumn(r.card),
    createdAt: r.created_at,
  };
}

/** How many images the catalog records for dataset `name`. */
export function imageCount(db: Catalog, dataset: string): number {
  return (db.prepare('SELECT count(*) AS n FROM images WHERE dataset = ?').get(dataset) as { n: number }).n;
}
