import { UserError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import { byId, type ImportRecord } from './common.js';

/**
 * Seeded split rules shared by the importers. Each sorts by id before shuffling, so the result
 * depends only on the seed and the set of usable records, not on directory listing order.
 */

/** PASCAL sentences as the paper splits it: per class, half test (rounded down), the rest train. */
export function halfPerClass(records: ImportRecord[], rng: Rng): void {
  const groups = new Map<string, ImportRecord[]>();
  for (const r of records) {
    if (r.split !== null) continue;
    const key = r.label ?? '';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  for (const key of [...groups.keys()].sort()) {
    const shuffled = rng.shuffle(groups.get(key)!.sort(byId));
    const nTest = Math.floor(shuffled.length / 2);
    shuffled.forEach((r, i) => (r.split = i < nTest ? 'test' : 'train'));
  }
}

/** Holdout size: the requested count, else Karpathy's 1,000 capped at a tenth of the images. */
export function holdoutSize(requested: number | undefined, n: number): number {
  return requested ?? Math.min(1000, Math.floor(n / 10));
}

/** Random val and test holdouts of fixed sizes among records without a split; the rest train. */
export function randomSplit(records: ImportRecord[], sizes: { val: number; test: number }, rng: Rng): void {
  const open = records.filter((r) => r.split === null).sort(byId);
  if (sizes.val + sizes.test > open.length) {
    throw new UserError(`cannot hold out ${sizes.val} val + ${sizes.test} test images from ${open.length} usable images; lower --val-count/--test-count`, 'bad_flags');
  }
  rng.shuffle(open).forEach((r, i) => (r.split = i < sizes.test ? 'test' : i < sizes.test + sizes.val ? 'val' : 'train'));
}

/** The seeded holdout of flickr30k and jsonl: --val-count/--test-count or the default sizes. */
export function seededHoldout(records: ImportRecord[], opts: { seed: number; valCount?: number; testCount?: number }): { valCount: number; testCount: number } {
  const n = records.filter((r) => r.split === null).length;
  const sizes = { val: holdoutSize(opts.valCount, n), test: holdoutSize(opts.testCount, n) };
  randomSplit(records, sizes, new Rng(opts.seed));
  return { valCount: sizes.val, testCount: sizes.test };
}

/**
 * A class-balanced test split as the paper builds it for COCO: `perClass` images drawn per label
 * among all labelled records; classes with fewer images stay out of the test split (the paper
 * drops toaster and hair drier this way). Returns the classes left out; records not drawn keep
 * their split for the caller to set.
 */
export function balancedTest(records: ImportRecord[], perClass: number, rng: Rng): string[] {
  const groups = new Map<string, ImportRecord[]>();
  for (const r of records) {
    if (r.label === null) continue;
    if (!groups.has(r.label)) groups.set(r.label, []);
    groups.get(r.label)!.push(r);
  }
  const tooSmall: string[] = [];
  for (const label of [...groups.keys()].sort()) {
    const group = groups.get(label)!.sort(byId);
    if (group.length < perClass) {
      tooSmall.push(label);
      continue;
    }
    for (const r of rng.shuffle(group).slice(0, perClass)) r.split = 'test';
  }
  return tooSmall;
}
