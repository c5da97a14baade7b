import type { Catalog } from './connection.js';

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
