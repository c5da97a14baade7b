import { existsSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../../core/errors.js';
import type { Workspace } from '../../core/workspace.js';
import { readDataset, type DatasetCard, type ManifestEntry } from '../../data/dataset.js';
import { listDatasets, type DatasetSummary } from '../../data/listing.js';

/** A dataset held in memory for serving: its manifest indexed by image id and by file. */
export interface ServedDataset {
  name: string;
  dir: string;
  /** The dataset folder with symlinks resolved: served files must stay inside it. */
  realDir: string;
  card: DatasetCard;
  entries: ManifestEntry[];
  byId: Map<string, ManifestEntry>;
  byFile: Map<string, ManifestEntry>;
  /** mtime of dataset.json when read: a dataset rewritten in place is read again. */
  version: number;
}

/**
 * The registered datasets of the workspace (folders with a dataset.json). Manifests are read
 * once and kept; every lookup checks dataset.json's mtime, so a regenerated dataset is picked up.
 */
export class DatasetRepository {
  private readonly loaded = new Map<string, ServedDataset>();
  private listCache: { at: number; list: DatasetSummary[] } | null = null;

  constructor(
    private readonly ws: Workspace,
    private readonly ttlMs = 1000,
  ) {}

  list(): DatasetSummary[] {
    const now = Date.now();
    if (this.listCache && now - this.listCache.at < this.ttlMs) return this.listCache.list;
    let list: DatasetSummary[] = [];
    try {
      list = listDatasets(this.ws);
    } catch {
      list = []; // a dataset.json being written: the next scan sees it whole
    }
    this.listCache = { at: now, list };
    return list;
  }

  has(name: string): boolean {
    return this.list().some((d) => d.name === name);
  }

  /** The dataset by name, or a 404 naming it. */
  get(name: string): ServedDataset {
    const summary = this.list().find((d) => d.name === name);
    if (!summary) throw new NotFoundError(`unknown dataset ${JSON.stringify(name)}; GET /api/datasets lists the ones there are`, 'dataset_not_found');
    const cardPath = join(summary.dir, 'dataset.json');
    const version = existsSync(cardPath) ? statSync(cardPath).mtimeMs : 0;
    const cached = this.loaded.get(name);
    if (cached && cached.version === version) return cached;
    const d = readDataset(summary.dir);
    const byId = new Map<string, ManifestEntry>();
    const byFile = new Map<string, ManifestEntry>();
    for (const e of d.entries) {
      byId.set(e.id, e);
      byFile.set(e.file, e);
    }
    const served: ServedDataset = {
      name: d.card.name ?? name,
      dir: summary.dir,
      realDir: realpathSync(summary.dir),
      card: d.card,
      entries: d.entries,
      byId,
      byFile,
      version,
    };
    this.loaded.set(name, served);
    return served;
  }
}
