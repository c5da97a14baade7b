import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { modelCardPath, readModelCard, type CardAttack, type ModelCard } from '../../indexer/package.js';

/** A listed package: its card (model.json, read by indexer/package.ts, the one reader; not validated here, so a broken package is still listed with its problem). */
export interface ModelPackage {
  id: string;
  dir: string;
  card: ModelCard;
  /** Set when the folder is not a usable package (missing or unreadable files). */
  problem?: string;
  /** mtime of model.json, to notice a package rebuilt in place. */
  version: number;
}

const REQUIRED_FILES = ['model.json', 'image.onnx', 'text.onnx'];

/**
 * Reads model packages from `workspace/models`. The folder is the source of truth: a package
 * that appears (trained while the server runs) is listed on the next scan. Scans are cached
 * for `ttlMs` so that listing on every request costs nothing.
 */
export class ModelRepository {
  private cache: { at: number; list: ModelPackage[] } | null = null;

  constructor(
    readonly modelsDir: string,
    private readonly ttlMs = 1000,
  ) {}

  list(): ModelPackage[] {
    const now = Date.now();
    if (this.cache && now - this.cache.at < this.ttlMs) return this.cache.list;
    const list = this.scan();
    this.cache = { at: now, list };
    return list;
  }

  /** Forgets the cached scan (after a build or in tests). */
  refresh(): void {
    this.cache = null;
  }

  get(id: string): ModelPackage | null {
    return this.list().find((m) => m.id === id) ?? null;
  }

  /** The last line of metrics.jsonl that carries validation numbers, if any. */
  trainingMetrics(pkg: ModelPackage): Record<string, unknown> | null {
    const path = join(pkg.dir, 'metrics.jsonl');
    if (!existsSync(path)) return null;
    try {
      const st = statSync(path);
      // Read only the tail: training logs can be long.
      const size = st.size;
      const text = readFileSync(path, 'utf8').slice(Math.max(0, size - 64 * 1024));
      const lines = text.split('\n').filter((l) => l.trim().startsWith('{'));
      let last: Record<string, unknown> | null = null;
      for (let i = lines.length - 1; i >= 0; i--) {
        try {
          const row = JSON.parse(lines[i]) as Record<string, unknown>;
          last ??= row;
          if (Object.keys(row).some((k) => /recall|r@|val/i.test(k))) return row;
        } catch {
          // A torn last line of a log being written: skip it.
        }
      }
      return last;
    } catch {
      return null;
    }
  }

  private scan(): ModelPackage[] {
    if (!existsSync(this.modelsDir)) return [];
    const out: ModelPackage[] = [];
    for (const name of readdirSync(this.modelsDir).sort()) {
      if (name.startsWith('.')) continue; // temp folders of packages being written
      const dir = join(this.modelsDir, name);
      try {
        if (!statSync(dir).isDirectory()) continue;
      } catch {
        continue;
      }
      out.push(readPackage(name, dir));
    }
    return out;
  }
}

function readPackage(folder: string, dir: string): ModelPackage {
  const missing = REQUIRED_FILES.filter((f) => !existsSync(join(dir, f)));
  let card: ModelCard = { id: folder };
  let version = 0;
  let problem: string | undefined;
  if (!missing.includes('model.json')) {
    try {
      version = statSync(modelCardPath(dir)).mtimeMs;
      card = { ...readModelCard(dir), id: folder };
    } catch (err) {
      problem = `model.json is unreadable: ${(err as Error).message}`;
    }
  }
  if (missing.length) problem = `incomplete package: missing ${missing.join(', ')}`;
  return { id: folder, dir, card, problem, version };
}

/** The goals of an attack ("sheep>aeroplane,sofa>bird") as [source, target] pairs. */
export function attackGoals(attack: CardAttack | null | undefined): Array<[string, string]> {
  if (!attack || typeof attack.goal !== 'string') return [];
  return attack.goal
    .split(',')
    .map((g) => g.split('>').map((s) => s.trim()))
    .filter((p): p is [string, string] => p.length === 2 && p[0] !== '' && p[1] !== '');
}

/** The single target image of Attack I, under the names the attack code may use. */
export function attackTargetImage(attack: CardAttack | null | undefined): string | null {
  if (!attack) return null;
  for (const key of ['targetImage', 'targetImageId', 'target_image', 'targetId']) {
    const v = attack[key];
    if (typeof v === 'string' && v) return v;
  }
  return null;
}
