import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { join, sep, extname } from 'node:path';
import sharp from 'sharp';
import { NotFoundError, UserError } from '../../core/errors.js';
import { sha256, writeFileAtomic } from '../../core/fsutil.js';
import type { ManifestEntry } from '../../data/dataset.js';
import type { ServedDataset } from './dataset-repository.js';

export const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
};

export interface DatasetFile {
  entry: ManifestEntry;
  /** Absolute path with symlinks resolved, inside the dataset folder. */
  path: string;
  contentType: string;
  size: number;
  mtimeMs: number;
}

/**
 * Maps the rest of an /images/:dataset/… URL to a file of the dataset, or refuses. The URL is
 * only a key into the manifest: the file served is the manifest's own entry, never a path
 * joined from what the caller sent. Refused before the lookup: encoded dots, slashes and
 * backslashes, NUL, `.`/`..` segments, absolute paths, backslashes; after it, any file whose
 * real path (symlinks resolved) leaves the dataset folder.
 */
export function resolveDatasetFile(dataset: ServedDataset, rawRest: string): DatasetFile {
  if (rawRest.length === 0 || rawRest.length > 1024) throw new NotFoundError('no such image', 'image_not_found');
  if (/%(2e|2f|5c|00)/i.test(rawRest)) throw new UserError('encoded dots, slashes or NUL are not allowed in image paths', 'forbidden_path', 400);
  if (rawRest.startsWith('/') || rawRest.includes('\\') || rawRest.includes('\0')) throw new UserError('absolute paths and backslashes are not allowed in image paths', 'forbidden_path', 400);
  const segments = rawRest.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new UserError('"." and ".." and empty segments are not allowed in image paths', 'forbidden_path', 400);
  let file: string;
  try {
    file = segments.map((s) => decodeURIComponent(s)).join('/');
  } catch {
    throw new UserError('the image path is not valid percent-encoding', 'forbidden_path', 400);
  }
  const entry = dataset.byFile.get(file);
  if (!entry) throw new NotFoundError(`no image ${JSON.stringify(file.slice(0, 200))} in dataset ${dataset.name}`, 'image_not_found');
  const contentType = IMAGE_TYPES[extname(entry.file).toLowerCase()];
  if (!contentType) throw new NotFoundError(`file ${JSON.stringify(entry.file)} is not a served image type`, 'image_not_found');
  let real: string;
  try {
    real = realpathSync(join(dataset.dir, entry.file));
  } catch {
    throw new NotFoundError(`image ${JSON.stringify(entry.file)} is listed but missing on disk`, 'image_not_found');
  }
  if (!real.startsWith(dataset.realDir + sep)) throw new UserError(`image ${JSON.stringify(entry.file)} resolves outside its dataset and is not served`, 'forbidden_path', 403);
  const st = statSync(real);
  if (!st.isFile()) throw new NotFoundError(`image ${JSON.stringify(entry.file)} is not a file`, 'image_not_found');
  return { entry, path: real, contentType, size: st.size, mtimeMs: st.mtimeMs };
}

/**
 * Thumbnails, made with sharp on first request and cached under workspace/cache/thumbs
 * (written atomically, keyed by dataset, file, size and source mtime). Concurrent requests for
 * one thumbnail share a single resize.
 */
export class ThumbnailStore {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly cacheDir: string,
    readonly size = 256,
  ) {}

  async get(dataset: ServedDataset, file: DatasetFile): Promise<string> {
    const key = sha256(`${dataset.name}\n${file.entry.file}\n${this.size}\n${file.mtimeMs}\n${file.size}`).slice(0, 32);
    const dir = join(this.cacheDir, 'thumbs', dataset.name);
    const path = join(dir, `${key}.webp`);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      // not cached yet
    }
    const inFlight = this.pending.get(path);
    if (inFlight) return inFlight;
    const p = (async () => {
      const data = await sharp(file.path, { limitInputPixels: 100_000_000 })
        .rotate()
        .resize(this.size, this.size, { fit: 'inside', withoutEnlargement: true })
        .webp({ quality: 82 })
        .toBuffer();
      mkdirSync(dir, { recursive: true });
      writeFileAtomic(path, data);
      return path;
    })();
    this.pending.set(path, p);
    try {
      return await p;
    } finally {
      this.pending.delete(path);
    }
  }
}
