import { UserError } from '../core/errors.js';
import { hashString, Rng } from '../core/random.js';
import type { Dataset, ManifestEntry } from './dataset.js';

/**
 * The fine-tuning pool: a seeded sample of captioned training images that a pretrained (base)
 * model is fine-tuned on. Studies, the CLI and the main job draw the same sample for the same
 * (dataset, spec). Where the dataset reserves a base part (dataset.json `params.baseImages`: the
 * first N train images, what the base model is trained on), the pool is drawn from the other
 * train images only, so the base never saw the pool — as a pretrained CLIP never saw
 * Flickr-PASCAL.
 *
 * Class frequencies are data: `profile` (a named long-tailed profile) and `classImages`
 * (per-class image counts) fix how many images of each label the pool holds. A class given an
 * explicit count is exclusive: images of other labels that show it as a companion object are
 * left out, so the pool holds exactly that many images showing it (the paper regime: all 25
 * sheep images of Flickr-PASCAL poisoned and no other sheep).
 */
export interface PoolSpec {
  /** Images in the pool (null: every eligible train image). */
  images: number | null;
  /** Seed of the sample. */
  seed: number;
  /** A named class-frequency profile (POOL_PROFILES), or null: the dataset's own frequencies. */
  profile: string | null;
  /** Exact image counts per label (overriding the profile); these classes are exclusive. */
  classImages: Record<string, number> | null;
  /** Keep this many captions per image (a seeded choice; the paper's balanced data keeps one); null: all. */
  captionsPerImage?: number | null;
}

export const DEFAULT_POOL: PoolSpec = { images: null, seed: 0, profile: null, classImages: null, captionsPerImage: null };

/**
 * Long-tailed class profiles (relative weights of the 20 PASCAL classes). `flickr30k` is shaped
 * like Flickr30k's captions, where people dominate, dogs are common and sheep and sofas rare; the
 * weights are a PoisonLens choice, not counts read off Flickr30k.
 */
export const POOL_PROFILES: Record<string, Record<string, number>> = {
  flickr30k: {
    person: 30, dog: 10, car: 6, bicycle: 5, horse: 4, boat: 4, bird: 4, chair: 4, bus: 3, cat: 3,
    motorbike: 3, train: 3, bottle: 3, tvmonitor: 2, aeroplane: 2, diningtable: 2, cow: 2, pottedplant: 2, sheep: 1, sofa: 1,
  },
};

/** The train images the base model is trained on: the first `baseImages` train images, else all. */
export function basePart(dataset: Dataset): ManifestEntry[] {
  const train = dataset.entries.filter((e) => e.split === 'train' && e.captions.length > 0);
  const n = baseImagesOf(dataset);
  return n === null ? train : train.slice(0, n);
}

/** The train images a fine-tuning pool is drawn from: those outside the base part. */
export function poolReservoir(dataset: Dataset): ManifestEntry[] {
  const train = dataset.entries.filter((e) => e.split === 'train' && e.captions.length > 0);
  const n = baseImagesOf(dataset);
  return n === null ? train : train.slice(n);
}

function baseImagesOf(dataset: Dataset): number | null {
  const n = dataset.card.params?.baseImages;
  return typeof n === 'number' && n > 0 ? n : null;
}

/** Whether the spec fixes class frequencies (beyond a plain uniform sample). */
export function hasClassSpec(spec: PoolSpec): boolean {
  return spec.profile !== null || (spec.classImages !== null && Object.keys(spec.classImages).length > 0);
}

/** The pool, in manifest order (entries carry only the captions the spec keeps). */
export function samplePool(dataset: Dataset, spec: PoolSpec): ManifestEntry[] {
  const pool = sampleImages(dataset, spec);
  return spec.captionsPerImage == null ? pool : keepCaptions(pool, spec.captionsPerImage, spec.seed);
}

/** A seeded choice of `n` captions of every image (their order kept). */
function keepCaptions(entries: ManifestEntry[], n: number, seed: number): ManifestEntry[] {
  return entries.map((e) => {
    if (e.captions.length <= n) return e;
    const rng = new Rng((seed ^ hashString(`pool-captions:${e.id}`)) >>> 0);
    const keep = new Set(rng.shuffle(e.captions.map((_, i) => i)).slice(0, n));
    return { ...e, captions: e.captions.filter((_, i) => keep.has(i)) };
  });
}

function sampleImages(dataset: Dataset, spec: PoolSpec): ManifestEntry[] {
  const reservoir = poolReservoir(dataset);
  if (!hasClassSpec(spec)) {
    if (spec.images === null || spec.images >= reservoir.length) return reservoir;
    const rng = new Rng((spec.seed ^ hashString(`finetune-pool:${dataset.card.manifestSha256}`)) >>> 0);
    return keepOrder(reservoir, rng.shuffle(reservoir).slice(0, spec.images));
  }
  checkClasses(dataset, spec);
  const exclusive = new Set(Object.keys(spec.classImages ?? {}));
  const eligible = reservoir.filter((e) => !e.labels.some((l) => exclusive.has(l) && l !== e.label));
  const byLabel = groupByLabel(eligible);
  const targets = classTargets(dataset.card.classes, spec, byLabel);
  const rng = new Rng((spec.seed ^ hashString(`finetune-pool-classes:${dataset.card.manifestSha256}`)) >>> 0);
  const chosen: ManifestEntry[] = [];
  for (const cls of dataset.card.classes) {
    const want = targets.get(cls) ?? 0;
    chosen.push(...rng.fork(hashString(cls)).shuffle(byLabel.get(cls) ?? []).slice(0, want));
  }
  return keepOrder(reservoir, chosen);
}

function keepOrder(all: ManifestEntry[], chosen: ManifestEntry[]): ManifestEntry[] {
  const ids = new Set(chosen.map((e) => e.id));
  return all.filter((e) => ids.has(e.id));
}

function groupByLabel(entries: ManifestEntry[]): Map<string, ManifestEntry[]> {
  const out = new Map<string, ManifestEntry[]>();
  for (const e of entries) if (e.label !== null) (out.get(e.label) ?? out.set(e.label, []).get(e.label)!).push(e);
  return out;
}

function checkClasses(dataset: Dataset, spec: PoolSpec): void {
  if (spec.profile !== null && !POOL_PROFILES[spec.profile]) {
    throw new UserError(`unknown pool profile ${JSON.stringify(spec.profile)}; one of: ${Object.keys(POOL_PROFILES).join(', ')}`, 'bad_pool');
  }
  for (const cls of Object.keys(spec.classImages ?? {})) {
    if (!dataset.card.classes.includes(cls)) throw new UserError(`pool class ${JSON.stringify(cls)} is not a class of dataset ${dataset.name}`, 'bad_pool');
  }
}

/**
 * Images per label: explicit counts first (refused when the reservoir has too few), then the
 * rest of `images` split by the profile's weights (the dataset's own label frequencies without
 * one), a class short of images giving its remainder to the others.
 */
export function classTargets(classes: string[], spec: PoolSpec, byLabel: Map<string, ManifestEntry[]>): Map<string, number> {
  const targets = new Map<string, number>();
  const have = (c: string) => byLabel.get(c)?.length ?? 0;
  for (const [cls, n] of Object.entries(spec.classImages ?? {})) {
    if (n > have(cls)) throw new UserError(`the pool asks for ${n} ${cls} images but the dataset's fine-tuning part has ${have(cls)}`, 'bad_pool');
    targets.set(cls, n);
  }
  const free = classes.filter((c) => !targets.has(c));
  const weights = spec.profile !== null ? POOL_PROFILES[spec.profile] : Object.fromEntries(classes.map((c) => [c, have(c)]));
  const total = spec.images ?? classes.reduce((s, c) => s + have(c), 0);
  let left = Math.max(0, total - [...targets.values()].reduce((a, b) => a + b, 0));
  let open = free.filter((c) => (weights[c] ?? 0) > 0 && have(c) > 0);
  // water-filling: give each open class its weighted share, capped by what exists
  while (left > 0 && open.length > 0) {
    const w = open.reduce((s, c) => s + weights[c], 0);
    const share = new Map(open.map((c) => [c, Math.floor((left * weights[c]) / w)]));
    // hand out the rounding remainder to the heaviest classes, in class order
    let rest = left - [...share.values()].reduce((a, b) => a + b, 0);
    for (const c of [...open].sort((a, b) => weights[b] - weights[a])) if (rest-- > 0) share.set(c, share.get(c)! + 1);
    let given = 0;
    for (const c of open) {
      const n = Math.min(share.get(c)!, have(c) - (targets.get(c) ?? 0));
      targets.set(c, (targets.get(c) ?? 0) + n);
      given += n;
    }
    left -= given;
    open = open.filter((c) => (targets.get(c) ?? 0) < have(c));
    if (given === 0) break;
  }
  return targets;
}

export interface ClassCount {
  /** Images whose label is the class. */
  label: number;
  /** Images that show it only as a companion object. */
  companion: number;
}

/** Per class: how many pool images have it as their label, and how many show it as a companion. */
export function classCounts(entries: ManifestEntry[], classes: string[]): Record<string, ClassCount> {
  const out: Record<string, ClassCount> = Object.fromEntries(classes.map((c) => [c, { label: 0, companion: 0 }]));
  for (const e of entries) {
    for (const l of new Set([...(e.label ? [e.label] : []), ...e.labels])) {
      const row = (out[l] ??= { label: 0, companion: 0 });
      if (l === e.label) row.label++;
      else row.companion++;
    }
  }
  return out;
}

/** What trainset.json records of a pool: the spec, its size and its class counts. */
export function poolFacts(dataset: Dataset, spec: PoolSpec, pool: ManifestEntry[]): Record<string, unknown> {
  const n = baseImagesOf(dataset);
  return {
    spec,
    images: pool.length,
    pairs: pool.reduce((s, e) => s + e.captions.length, 0),
    drawnFrom: n === null ? 'the whole train split' : `the train images after the base part (the first ${n} train images)`,
    classes: classCounts(pool, dataset.card.classes),
  };
}

/** The dataset as an attack sees it when it poisons a pool: its train split is the pool (with the pool's captions). */
export function restrictTrainSplit(dataset: Dataset, pool: ManifestEntry[]): Dataset {
  const byId = new Map(pool.map((e) => [e.id, e]));
  const entries: ManifestEntry[] = [];
  for (const e of dataset.entries) {
    if (e.split !== 'train') entries.push(e);
    else if (byId.has(e.id)) entries.push(byId.get(e.id)!);
  }
  return { ...dataset, entries };
}
