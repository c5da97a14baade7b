import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Rng, hashString } from '../../core/random.js';
import { UserError } from '../../core/errors.js';
import { Progress } from '../../core/progress.js';
import { openCatalog } from '../../core/catalog.js';
import type { Workspace } from '../../core/workspace.js';
import { DatasetWriter, datasetDir, registerDataset, type DatasetCard, type ManifestEntry, type Split } from '../dataset.js';
import { CLASSES, CLASS_SPECS, VOC_FREQUENCY, type ClassName } from './catalogue.js';
import { ART_SETS, DRAWN_SET, loadEmojiSvgs } from './artsets.js';
import { TEMPLATE_TYPES } from './captions.js';
import { REGION_KINDS } from './regions.js';
import { CLASS_KEYWORDS, keywordMisses } from './keywords.js';
import { DEFAULT_STYLE, layoutOf, objectRange, streamPrefix, type SceneStyle } from './style.js';
import { BACKGROUNDS } from './backgrounds.js';
import { RenderPool } from './render-pool.js';
import { loadAtlas } from './atlas.js';
import type { SceneJob } from './scene.js';

/** Bumped whenever the same flags would give different images or captions. */
export const GENERATOR_VERSION = 1;

export type Balance = 'uniform' | 'natural';

export interface ScenesOptions {
  name: string;
  /** total images, all splits */
  count: number;
  size: number;
  seed: number;
  testPerClass: number;
  val: number;
  balance: Balance;
  /**
   * Which world (style.ts): `sentences`, the default world; `regions`, the second world (short
   * region phrases, 2–5 objects, another art and background mix, keyword labels). Absent: default.
   */
  style?: SceneStyle;
  /**
   * Train images reserved for the base model (the first N train images in manifest order); the
   * fine-tuning pool is drawn from the others (data/pool.ts). null: no reserved part.
   */
  baseImages?: number | null;
  /** extra render threads beside the calling one; 0: this thread alone (same output either way) */
  workers: number;
  force: boolean;
  quiet?: boolean;
}

/**
 * The default world's dataset: 50,000 train images, of which the first 20,000 (the base part)
 * pre-train the base model and the other 30,000 are the reservoir fine-tuning pools come from.
 */
export const SCENES_DEFAULTS = { count: 52000, size: 64, seed: 0, testPerClass: 50, val: 1000, balance: 'uniform' as Balance, baseImages: 20000 };

/** Defaults that shrink with small counts, so `--count 2000` still leaves a train split. */
export function defaultSplits(count: number): { testPerClass: number; val: number } {
  return {
    testPerClass: Math.min(SCENES_DEFAULTS.testPerClass, Math.floor(count / 4 / CLASSES.length)),
    val: Math.min(SCENES_DEFAULTS.val, Math.floor(count / 10)),
  };
}

/** Extra render threads beside the calling one (which renders too). */
export function defaultWorkers(count: number): number {
  // below a few hundred images, starting a thread costs more than it saves
  return count < 400 ? 0 : Math.max(1, Math.min(7, availableParallelism() - 1));
}

export interface ScenesResult {
  card: DatasetCard;
  dir: string;
  seconds: number;
  imagesPerSecond: number;
}

/** The main class of every image, in manifest order: test (balanced), then val, then train. */
export function planJobs(opts: Pick<ScenesOptions, 'count' | 'seed' | 'testPerClass' | 'val' | 'balance' | 'style'>): SceneJob[] {
  const rng = new Rng(hashString(`${streamPrefix(opts.style ?? DEFAULT_STYLE)}/${opts.seed}/splits`));
  const test: ClassName[] = rng.shuffle(CLASSES.flatMap((c) => Array<ClassName>(opts.testPerClass).fill(c)));
  const rest = opts.count - test.length;
  const mains: ClassName[] = [...test];
  if (opts.balance === 'uniform') {
    // shuffled rounds of all classes: every class within one image of the others
    while (mains.length < opts.count) mains.push(...rng.shuffle(CLASSES).slice(0, opts.count - mains.length));
  } else {
    const total = CLASSES.reduce((s, c) => s + VOC_FREQUENCY[c], 0);
    for (let i = 0; i < rest; i++) {
      let r = rng.next() * total;
      let k = 0;
      while (k < CLASSES.length - 1 && (r -= VOC_FREQUENCY[CLASSES[k]]) >= 0) k++;
      mains.push(CLASSES[k]);
    }
  }
  return mains.map((main, index) => ({
    index,
    main,
    split: (index < test.length ? 'test' : index < test.length + opts.val ? 'val' : 'train') as Split,
  }));
}

export function validateOptions(opts: ScenesOptions): void {
  const test = opts.testPerClass * CLASSES.length;
  if (test + opts.val > opts.count) {
    throw new UserError(
      `--count ${opts.count} is smaller than the test split (${opts.testPerClass} per class = ${test}) plus --val ${opts.val}; raise --count or lower --test-per-class/--val`,
      'bad_flags',
    );
  }
  const train = opts.count - test - opts.val;
  if (opts.baseImages != null && (opts.baseImages < 1 || opts.baseImages >= train)) {
    throw new UserError(`--base-images must leave train images for fine-tuning: 1 to ${train - 1} of the ${train} train images (got ${opts.baseImages})`, 'bad_flags');
  }
  if (![32, 48, 64, 96, 128, 160, 192, 224, 256].includes(opts.size)) {
    throw new UserError(`--size must be one of 32, 48, 64, 96, 128, 160, 192, 224, 256 (got ${opts.size})`, 'bad_flags');
  }
}

/**
 * Text→image Recall@1 ceiling from identical captions: a caption shared by k test images finds
 * its own image first at best 1 time in k, so the ceiling is the mean of 1/k over test captions.
 */
export function captionCeiling(captionsByImage: Map<string, string[]>): { textToImageR1: number; captions: number; distinct: number; shared: number } {
  const images = new Map<string, Set<string>>();
  for (const [id, caps] of captionsByImage) for (const c of caps) (images.get(c) ?? images.set(c, new Set()).get(c)!).add(id);
  let sum = 0, n = 0, shared = 0;
  for (const caps of captionsByImage.values()) {
    for (const c of caps) {
      const k = images.get(c)!.size;
      sum += 1 / k;
      n++;
      if (k > 1) shared++;
    }
  }
  return { textToImageR1: n ? Math.round((sum / n) * 10000) / 10000 : 1, captions: n, distinct: images.size, shared };
}

export async function generateScenes(ws: Workspace, opts: ScenesOptions): Promise<ScenesResult> {
  validateOptions(opts);
  const dir = datasetDir(ws, opts.name);
  if (existsSync(dir) && !opts.force) {
    throw new UserError(`dataset ${JSON.stringify(opts.name)} already exists at ${dir}; pass --force to replace it`, 'dataset_exists');
  }
  const started = Date.now();
  const style = opts.style ?? DEFAULT_STYLE;
  const jobs = planJobs(opts);
  const { versions } = loadEmojiSvgs(ws.cache);
  const atlas = await loadAtlas(opts.size, ws.cache);
  const writer = new DatasetWriter(dir);
  const onSignal = () => {
    void writer.abort().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const pool = new RenderPool({
    size: opts.size,
    seed: opts.seed,
    atlas,
    outDir: writer.tmpDir,
    workers: opts.workers,
    style,
  });
  const progress = new Progress({ label: `scenes ${opts.name}`, total: jobs.length, unit: 'img', quiet: opts.quiet });
  const testCaptions = new Map<string, string[]>();
  const slim: ManifestEntry[] = [];
  const stats = newStats();
  try {
    for await (const entries of pool.run(jobs)) {
      for (const e of entries) {
        await writer.add(e);
        if (e.split === 'test') testCaptions.set(e.id, e.captions);
        slim.push({ ...e, meta: {} });
        countStats(stats, e);
      }
      progress.tick(entries.length);
    }
    await pool.close();
    const ceiling = captionCeiling(testCaptions);
    const seconds = (Date.now() - started) / 1000;
    progress.finish(`R@1 caption ceiling ${ceiling.textToImageR1}`);
    const card = await writer.finish({
      name: opts.name,
      source: 'scenes',
      classes: [...CLASSES],
      params: {
        generator: 'poisonlens scenes',
        generatorVersion: GENERATOR_VERSION,
        count: opts.count,
        size: opts.size,
        seed: opts.seed,
        testPerClass: opts.testPerClass,
        val: opts.val,
        balance: opts.balance,
        ...(opts.baseImages != null ? { baseImages: opts.baseImages } : {}),
        // the default world's params are as they have always been (no `style` field: absent = sentences)
        ...(style === 'regions' ? regionsParams() : { objectsPerImage: objectRange(layoutOf(style)), captionsPerImage: 5, captionTemplates: TEMPLATE_TYPES }),
        backgrounds: BACKGROUNDS,
        artPackages: versions,
      },
      seed: opts.seed,
      licence:
        'Images are derived from emoji artwork: Noto Emoji (Apache-2.0, Google), Fluent Emoji Flat (MIT, Microsoft) and Twemoji (CC-BY-4.0, Twitter Inc and other contributors); sofa and dining table drawings, backgrounds and captions are generated by PoisonLens (MIT). See attribution and artSets.',
      attribution: ART_SETS.map((a) => a.attribution),
      artSets: [
        ...ART_SETS.map((a) => ({ id: a.id, title: a.title, package: a.package, version: versions[a.id], licence: a.licence, style: a.style, attribution: a.attribution, objects: stats.sets[a.id] ?? 0 })),
        { id: DRAWN_SET, title: 'Shapes drawn in code by PoisonLens (sofa, dining table)', licence: 'MIT', style: 'glossy|flat|cartoon', objects: stats.sets[DRAWN_SET] ?? 0 },
      ],
      ...(opts.baseImages != null
        ? {
            parts: {
              base: `the first ${opts.baseImages} train images (manifest order): what the base model is pre-trained on`,
              finetune: `the other ${jobs.filter((j) => j.split === 'train').length - opts.baseImages} train images: the reservoir fine-tuning pools are drawn from, never seen by the base`,
            },
          }
        : {}),
      substitutions: {
        sofa: 'No emoji shows a sofa alone (U+1F6CB "couch and lamp" adds a lamp), so sofas are drawn in code from simple shapes (back, seat cushions, arms, legs) in 8 colours and 2 or 3 seats, in the glossy, flat and cartoon looks of the emoji sets.',
        diningtable: 'No emoji shows a dining table (U+1F37D "fork and knife with plate" is not one), so dining tables are drawn in code (a table top in perspective on four legs, wooden or white, sometimes with a tablecloth or laid with plates), in the glossy, flat and cartoon looks of the emoji sets.',
      },
      captionCeiling: { split: 'test', ...ceiling, note: 'text→image Recall@1 ceiling caused by identical captions: mean over test captions of 1/(number of test images with that exact caption)' },
      world: Object.fromEntries([...CLASS_SPECS.values()].map((s) => [s.name, { backgrounds: s.backgrounds, glyphs: s.glyphs.map((g) => g.key) }])),
      stats: { backgroundsByLabel: stats.bg, objectsPerImage: stats.objects, ...(style === 'regions' ? regionsStats(stats) : {}) },
    });
    const db = openCatalog(ws.catalogPath);
    try {
      registerDataset(db, { name: card.name, dir, card, entries: slim });
    } finally {
      db.close();
    }
    return { card, dir, seconds, imagesPerSecond: jobs.length / seconds };
  } catch (err) {
    await pool.close().catch(() => {});
    await writer.abort();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** What dataset.json's params record of the second world beyond the common ones. */
function regionsParams(): Record<string, unknown> {
  const layout = layoutOf('regions');
  return {
    style: 'regions',
    objectsPerImage: objectRange(layout),
    captionsPerImage: 5,
    captionKinds: REGION_KINDS,
    layout: {
      objectCounts: layout.objectCounts,
      artSetWeights: layout.artSetWeights,
      backgroundWeights: layout.backgroundWeights,
      sunsetChance: layout.sunsetChance,
      sameClassCompanion: layout.sameClassCompanion,
    },
    labelRule: {
      method: 'keyword search over the captions, as Yang et al. (ICML 2023) labelled Visual Genome',
      labels: 'every class whose keywords occur (as whole words, or their plural) in at least one of the image\'s captions',
      label: 'the class named by the most captions; a tie goes to the class named first (caption order, then word order); null when no caption names a class',
      keywords: CLASS_KEYWORDS,
      notFound: keywordMisses(),
    },
  };
}

interface Stats {
  bg: Record<string, Record<string, number>>;
  objects: Record<string, number>;
  sets: Record<string, number>;
  /** regions: label per split, agreement with the drawn main object, images with an unnamed class */
  labels: Record<string, Record<string, number>>;
  images: number;
  agree: number;
  unnamed: number;
}

function newStats(): Stats {
  return { bg: {}, objects: {}, sets: {}, labels: {}, images: 0, agree: 0, unnamed: 0 };
}

function countStats(s: Stats, e: ManifestEntry): void {
  const meta = e.meta as { background: string; objects: { set: string; class: string }[] };
  const row = (s.bg[e.label ?? '(none)'] ??= {});
  row[meta.background] = (row[meta.background] ?? 0) + 1;
  s.objects[meta.objects.length] = (s.objects[meta.objects.length] ?? 0) + 1;
  for (const o of meta.objects) s.sets[o.set] = (s.sets[o.set] ?? 0) + 1;
  const byLabel = (s.labels[e.split] ??= {});
  byLabel[e.label ?? '(none)'] = (byLabel[e.label ?? '(none)'] ?? 0) + 1;
  s.images++;
  if (e.label === meta.objects[0].class) s.agree++;
  if (meta.objects.some((o) => !e.labels.includes(o.class))) s.unnamed++;
}

/** The second world's label statistics (keyword labels against what was drawn). */
function regionsStats(s: Stats): Record<string, unknown> {
  const r = (x: number) => Math.round((x / Math.max(1, s.images)) * 10000) / 10000;
  return {
    labelsBySplit: s.labels,
    labelIsDrawnMain: r(s.agree),
    imagesWithAnUnnamedClass: r(s.unnamed),
    note: 'labels are found by keyword search over the captions; labelIsDrawnMain: share of images whose label is the class of the largest drawn object; imagesWithAnUnnamedClass: share of images showing a class no keyword finds in their captions',
  };
}
