import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, UserError } from '../core/errors.js';
import { buildDirAtomic, sha256, writeFileAtomic, writeJsonAtomic } from '../core/fsutil.js';
import { checkName, type Workspace } from '../core/workspace.js';
import { type Catalog, nowIso, upsertTrainset } from '../core/catalog.js';

/** Training-set format (ARCHITECTURE.md §2): what the trainer consumes. */
export interface AttackTag {
  type: string; // "I" | "II" | "III" | "backdoor" | …
  goal: string; // "sheep>aeroplane"
}

export interface TrainPair {
  /** Absolute path, or relative to the parent dataset's folder. */
  image: string;
  caption: string;
  imageId: string;
  poisoned: boolean;
  attack: AttackTag | null;
}

export interface TrainsetCard {
  name: string;
  dataset: { name: string; manifestSha256: string; dir: string };
  builder: { name: string; params: Record<string, unknown> };
  seed: number | null;
  counts: { pairs: number; poisonedPairs: number; poisoningRate: number; images: number };
  pairsSha256: string;
  /** 0-based line numbers in pairs.jsonl of the poisoned pairs. */
  poisonedPairIds: number[];
  createdAt: string;
  /** Builder-specific facts (attack goals, target images, filter report path, …). */
  [extra: string]: unknown;
}

export interface Trainset {
  name: string;
  dir: string;
  card: TrainsetCard;
  pairs: TrainPair[];
}

export function trainsetDir(ws: Workspace, name: string): string {
  return join(ws.trainsets, checkName(name, 'trainset name'));
}

/** What a builder says about its training set; the writer adds name, counts and hashes. */
export interface TrainsetCardInput {
  dataset: TrainsetCard['dataset'];
  builder: TrainsetCard['builder'];
  seed: number | null;
  [extra: string]: unknown;
}

/**
 * Writes pairs.jsonl + trainset.json atomically (the folder appears whole or not at all).
 * `opts.files` may add more files (e.g. a backdoor's triggered images) to the temp folder first.
 */
export async function writeTrainset(
  ws: Workspace,
  name: string,
  pairs: TrainPair[],
  card: TrainsetCardInput,
  opts: { files?: (tmpDir: string) => Promise<void> | void } = {},
): Promise<Trainset> {
  if (pairs.length === 0) throw new UserError(`training set ${name} would be empty`, 'empty_trainset');
  const dir = trainsetDir(ws, name);
  const text = pairs.map((p) => JSON.stringify(p)).join('\n') + '\n';
  const poisonedPairIds = pairs.flatMap((p, i) => (p.poisoned ? [i] : []));
  const full: TrainsetCard = {
    ...card,
    name,
    counts: {
      pairs: pairs.length,
      poisonedPairs: poisonedPairIds.length,
      poisoningRate: poisonedPairIds.length / pairs.length,
      images: new Set(pairs.map((p) => p.image)).size,
    },
    pairsSha256: sha256(text),
    poisonedPairIds,
    createdAt: nowIso(),
  };
  await buildDirAtomic(dir, async (tmp) => {
    if (opts.files) await opts.files(tmp);
    writeFileAtomic(join(tmp, 'pairs.jsonl'), text);
    writeJsonAtomic(join(tmp, 'trainset.json'), full);
  });
  return { name, dir, card: full, pairs };
}

/** A training set's trainset.json, or null when it is missing or unreadable (the one reader of the card). */
export function readTrainsetCard(ws: Workspace, name: string): TrainsetCard | null {
  let dir: string;
  try {
    dir = trainsetDir(ws, name);
  } catch {
    return null; // not a valid training-set name
  }
  if (!existsSync(join(dir, 'trainset.json'))) return null;
  try {
    return JSON.parse(readFileSync(join(dir, 'trainset.json'), 'utf8')) as TrainsetCard;
  } catch {
    return null;
  }
}

export function loadTrainset(ws: Workspace, name: string): Trainset {
  const dir = trainsetDir(ws, name);
  if (!existsSync(join(dir, 'trainset.json'))) {
    throw new NotFoundError(`unknown training set ${JSON.stringify(name)}`, 'trainset_not_found');
  }
  const card = JSON.parse(readFileSync(join(dir, 'trainset.json'), 'utf8')) as TrainsetCard;
  const pairs = readFileSync(join(dir, 'pairs.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as TrainPair);
  return { name, dir, card, pairs };
}

export function registerTrainset(db: Catalog, t: Trainset): void {
  const c = t.card;
  upsertTrainset(db, { name: t.name, path: t.dir, dataset: c.dataset.name, builder: c.builder.name, pairsSha256: c.pairsSha256, pairs: c.counts.pairs, poisonedPairs: c.counts.poisonedPairs, card: c, createdAt: c.createdAt });
}
