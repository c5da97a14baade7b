import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../../core/errors.js';
import { sha256 } from '../../core/fsutil.js';
import { checkName } from '../../core/workspace.js';
import { SPLITS } from '../../data/dataset.js';
import { POOL_PROFILES } from '../../data/pool.js';
import { SCENES_DEFAULTS } from '../../data/scenes/generate.js';
import { FREEZE_MODES } from '../train.js';
import { HIT_KS } from '../../eval/metrics.js';
import { arrayOf, bool, fail, Fields, isObject, nullable, num, oneOf, SpecError, str, type Check } from './check.js';
import { getVariantKind, type VariantExpandContext } from './study-variants.js';
import type { BaseSpec, DatasetSpec, EvalSettings, ScenesSpec, StudySpec, TrainSettings, VariantSpec } from './study-types.js';

export type { BaseSpec, DatasetSpec, EvalSettings, ScenesSpec, StudySpec, TrainSettings, VariantSpec } from './study-types.js';

/**
 * The study file (`poisonlens experiment FILE.json`): datasets, a base model, fine-tuning
 * settings, seeds, variants and evaluation settings. See README "Studies" and experiments/*.json.
 *
 *   {
 *     "id": "headline", "title": "…", "description": "…", "notes": ["…"],
 *     "datasets": {"scenes": {"scenes": {"count": 52000, "size": 64, "seed": 0, "baseImages": 20000}}},  // generated if missing
 *     "dataset": "scenes",                                   // the one trained on (default: the first)
 *     "base": {"recipe": "scenes-base", "seed": 0},          // or {"model": "<existing id>"}
 *     "finetune": {"recipe": "finetune", "epochs": 2, "lr": 2e-4, "batch": 128, "images": 2000},
 *     "seeds": 3,                                            // or [0, 1, 2]
 *     "sweep": {"finetune.epochs": [0, 1, 2]},               // optional: every variant at every value
 *     "variants": [
 *       {"name": "clean", "kind": "clean"},
 *       {"name": "attack-II", "kind": "attack", "attack": "II", "goal": "sheep>aeroplane", "poisonImages": 50,
 *        "sweep": {"rate": [0, 0.001]}, "finetune": {"lr": 2e-4}}
 *     ],
 *     "evaluation": {"mode": "exact", "ks": [1, 5, 10, 20, 30, 50], "seed": 0, "datasets": ["scenes"]},
 *     "report": {"heatmap": "all-goals"}
 *   }
 */

/**
 * The fine-tuning defaults of a study: the recipe measured on the default world to reach the
 * issue's attack targets within the time budget (README "Studies"): the engine's `finetune`
 * recipe (AdamW, cosine, weight decay 0.2) at lr 2e-4, batch 128, for 2 epochs over a seeded
 * 2,000-image sample of the train split (10,000 pairs, 156 steps).
 */
export const DEFAULT_FINETUNE: TrainSettings = {
  recipe: 'finetune',
  epochs: 2,
  steps: null,
  lr: 2e-4,
  batch: 128,
  freeze: null,
  images: 2000,
  subsetSeed: 0,
  profile: null,
  classImages: null,
  captionsPerImage: null,
  valImages: 0,
};

const TOP_FIELDS = ['id', 'title', 'description', 'notes', 'datasets', 'dataset', 'base', 'finetune', 'seeds', 'sweep', 'variants', 'evaluation', 'report', '$schema', '$comment'];

const nameCheck =
  (what: string): Check<string> =>
  (v, p) => {
    const s = str(v, p);
    try {
      return checkName(s, what);
    } catch (err) {
      return fail(p, (err as Error).message);
    }
  };

const classImagesCheck: Check<Record<string, number>> = (v, p) => {
  if (!isObject(v)) return fail(p, 'expected an object {"<class>": images, …}');
  return Object.fromEntries(Object.entries(v).map(([k, n]) => [k, num({ integer: true, min: 0 })(n, `${p}.${k}`)]));
};

const notes: Check<string[]> = (v, p) => (typeof v === 'string' ? [v] : arrayOf(str)(v, p));

function parseScenes(v: unknown, p: string): ScenesSpec {
  const f = new Fields(v, p);
  const out: ScenesSpec = {
    count: f.get('count', num({ integer: true, min: 1, max: 2_000_000 }), SCENES_DEFAULTS.count),
    size: f.get('size', num({ integer: true, min: 8, max: 1024 }), 64),
    seed: f.get('seed', num({ integer: true, min: 0, max: 0xffffffff }), 0),
  };
  const tpc = f.get('testPerClass', num({ integer: true, min: 0 }));
  const val = f.get('val', num({ integer: true, min: 0 }));
  const balance = f.get('balance', oneOf(['uniform', 'natural'] as const));
  const baseImages = f.get('baseImages', num({ integer: true, min: 1 }));
  if (baseImages !== undefined) out.baseImages = baseImages;
  const style = f.get('style', oneOf(['sentences', 'regions'] as const));
  if (style !== undefined && style !== 'sentences') out.style = style;
  if (tpc !== undefined) out.testPerClass = tpc;
  if (val !== undefined) out.val = val;
  if (balance !== undefined) out.balance = balance;
  f.done();
  return out;
}

function parseDatasets(v: unknown, p: string): DatasetSpec[] {
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      const at = `${p}[${i}]`;
      if (typeof x === 'string') return { name: nameCheck('dataset name')(x, at), scenes: null };
      const f = new Fields(x, at);
      const d = { name: f.need('name', nameCheck('dataset name')), scenes: f.get('scenes', parseScenes) ?? null };
      f.done();
      return d;
    });
  }
  if (!isObject(v)) fail(p, 'expected an object {name: {…}} or a list of dataset names');
  const out: DatasetSpec[] = [];
  for (const [name, spec] of Object.entries(v)) {
    const at = `${p}.${name}`;
    nameCheck('dataset name')(name, at);
    const f = new Fields(spec ?? {}, at);
    out.push({ name, scenes: f.get('scenes', parseScenes) ?? null });
    f.done();
  }
  if (out.length === 0) fail(p, 'names no dataset');
  return out;
}

function parseBase(v: unknown, p: string): BaseSpec {
  const f = new Fields(v, p);
  const model = f.get('model', nameCheck('model id')) ?? null;
  const b: BaseSpec = {
    model,
    recipe: f.get('recipe', nameCheck('recipe name'), 'scenes-base'),
    arch: f.get('arch', str) ?? null,
    epochs: f.get('epochs', num({ min: 0, exclusiveMin: true })) ?? null,
    steps: f.get('steps', num({ integer: true, min: 1 })) ?? null,
    batch: f.get('batch', num({ integer: true, min: 1 })) ?? null,
    lr: f.get('lr', num({ min: 0, exclusiveMin: true })) ?? null,
    seed: f.get('seed', num({ integer: true, min: 0, max: 0xffffffff }), 0),
    dataset: f.get('dataset', nameCheck('dataset name')) ?? null,
  };
  f.done();
  if (b.epochs !== null && b.steps !== null) fail(`${p}.steps`, 'give epochs or steps, not both');
  if (model && ['recipe', 'arch', 'epochs', 'steps', 'batch', 'lr', 'dataset'].some((k) => f.has(k))) fail(`${p}.model`, 'an existing base model takes no training settings');
  return b;
}

function parseTrainSettings(v: unknown, p: string, defaults: TrainSettings): TrainSettings {
  const f = new Fields(v, p);
  const t: TrainSettings = {
    recipe: f.get('recipe', nameCheck('recipe name'), defaults.recipe),
    epochs: f.get('epochs', nullable(num({ min: 0 })), defaults.epochs),
    steps: f.get('steps', nullable(num({ integer: true, min: 1 })), defaults.steps),
    lr: f.get('lr', nullable(num({ min: 0, exclusiveMin: true })), defaults.lr),
    batch: f.get('batch', nullable(num({ integer: true, min: 1 })), defaults.batch),
    freeze: f.get('freeze', nullable(oneOf(FREEZE_MODES)), defaults.freeze),
    images: f.get('images', nullable(num({ integer: true, min: 1 })), defaults.images),
    subsetSeed: f.get('subsetSeed', num({ integer: true, min: 0, max: 0xffffffff }), defaults.subsetSeed),
    profile: f.get('profile', nullable(oneOf(Object.keys(POOL_PROFILES))), defaults.profile),
    classImages: f.get('classImages', nullable(classImagesCheck), defaults.classImages),
    captionsPerImage: f.get('captionsPerImage', nullable(num({ integer: true, min: 1 })), defaults.captionsPerImage),
    valImages: f.get('valImages', num({ integer: true, min: 0 }), defaults.valImages),
  };
  f.done();
  // A variant that sets steps drops the inherited epochs and vice versa.
  if (f.has('steps') && !f.has('epochs') && t.steps !== null) t.epochs = null;
  if (f.has('epochs') && !f.has('steps') && t.epochs !== null) t.steps = null;
  if (t.epochs !== null && t.steps !== null) fail(`${p}.steps`, 'give epochs or steps, not both');
  if (t.epochs === null && t.steps === null) fail(`${p}.epochs`, 'fine-tuning needs epochs or steps');
  return t;
}

function parseSweep(v: unknown, p: string): { field: string; values: unknown[] } {
  const f = obj1(v, p);
  const [field, values] = f;
  if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/.test(field)) fail(`${p}.${field}`, 'a sweep field is a variant field or finetune.<setting>');
  if (['name', 'kind', 'label', 'clean', 'sweep'].includes(field)) fail(`${p}.${field}`, 'this field cannot be swept');
  const list = arrayOf((x, at) => {
    if (x === null || ['number', 'string', 'boolean'].includes(typeof x)) return x;
    return fail(at, 'sweep values are numbers, strings, booleans or null');
  }, { min: 1 })(values, `${p}.${field}`);
  const seen = new Set(list.map((x) => JSON.stringify(x)));
  if (seen.size !== list.length) fail(`${p}.${field}`, 'has a repeated value');
  return { field, values: list };
}

function obj1(v: unknown, p: string): [string, unknown] {
  if (!isObject(v)) fail(p, 'expected an object with one field: {"<field>": [values…]}');
  const entries = Object.entries(v);
  if (entries.length !== 1) fail(p, `sweeps one field at a time, got ${entries.length}`);
  return entries[0];
}

function setPath(o: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(o);
  const parts = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(at[part])) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  at[parts[parts.length - 1]] = value;
  return copy;
}

const COMMON_VARIANT_FIELDS = ['name', 'kind', 'label', 'clean', 'finetune', 'sweep'];

function parseVariant(raw: Record<string, unknown>, path: string, study: { finetune: TrainSettings; hasClean: boolean }, name: string, setting: VariantSpec['setting']): VariantSpec {
  const f = new Fields(raw, path);
  const group = f.need('name', str);
  const kindName = f.need('kind', str);
  const kind = getVariantKind(kindName, f.at('kind'));
  const label = f.get('label', str, group);
  const clean = f.get('clean', nullable(str), kindName === 'clean' || kindName === 'base' || !study.hasClean ? null : 'clean');
  const finetune = f.has('finetune') ? parseTrainSettings(f.o.finetune, f.at('finetune'), study.finetune) : study.finetune;
  f.skip('finetune', 'sweep');
  const fields = kind.fields(f);
  f.done();
  return { name, group, kind: kindName, label, path, setting, clean, finetune, fields, raw };
}

/** Parses and checks a study (`file` names it in errors and gives the default id). */
export function parseStudy(value: unknown, file: string | null = null, text?: string): StudySpec {
  const where = file ? basename(file) : 'study';
  try {
    return parseStudyInner(value, file, text);
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(`study ${where}: ${err.message}`, 'bad_study');
    throw err;
  }
}

/** The study's top-level fields, read in a fixed order (the first bad one is the one reported), then its variants. */
function parseStudyInner(value: unknown, file: string | null, text?: string): StudySpec {
  const f = new Fields(value, '');
  const defaultId = file ? basename(file).replace(/\.json$/i, '') : undefined;
  const id = f.get('id', nameCheck('study id')) ?? (defaultId ? nameCheck('study id')(defaultId, 'id') : fail('id', 'missing (required when the study is not read from a file)'));
  const datasets = f.get('datasets', parseDatasets) ?? [{ name: 'scenes', scenes: { count: SCENES_DEFAULTS.count, size: 64, seed: 0, baseImages: SCENES_DEFAULTS.baseImages } }];
  const dataset = f.get('dataset', str, datasets[0].name);
  if (!datasets.some((d) => d.name === dataset)) fail('dataset', `${JSON.stringify(dataset)} is not among datasets (${datasets.map((d) => d.name).join(', ')})`);
  const base = f.get('base', parseBase) ?? parseBase({}, 'base');
  if (base.dataset !== null && !datasets.some((d) => d.name === base.dataset)) fail('base.dataset', `${JSON.stringify(base.dataset)} is not among datasets (${datasets.map((d) => d.name).join(', ')})`);
  const finetune = f.has('finetune') ? parseTrainSettings(f.o.finetune, 'finetune', DEFAULT_FINETUNE) : { ...DEFAULT_FINETUNE };
  f.skip('finetune');
  const seeds = f.get('seeds', parseSeeds, [0, 1, 2]);
  const sweep = f.get('sweep', parseSweep) ?? null;
  const evaluation = f.get('evaluation', (v, p) => parseEvaluation(v, p, dataset, datasets), parseEvaluation({}, 'evaluation', dataset, datasets));
  const rawVariants = f.need('variants', (v, p) => arrayOf((x, at) => new Fields(x, at).o, { min: 1 })(v, p));
  const report = f.get('report', parseReportSettings, { heatmap: null });
  const title = f.get('title', str, id);
  const description = f.get('description', str, '');
  const noteList = f.get('notes', notes, []);
  f.done(TOP_FIELDS);

  const { variants, names } = parseVariants(rawVariants, sweep, finetune);
  if (report.heatmap !== null && !names.has(report.heatmap)) fail('report.heatmap', `no variant named ${JSON.stringify(report.heatmap)}`);
  return {
    id,
    title,
    description,
    notes: noteList,
    datasets,
    dataset,
    base,
    finetune,
    seeds,
    sweep,
    variants,
    evaluation,
    report,
    source: { file, sha256: sha256(text ?? JSON.stringify(value)) },
  };
}

/** `seeds`: a count n (seeds 0..n-1) or a list of distinct seeds. */
function parseSeeds(v: unknown, p: string): number[] {
  if (typeof v === 'number') return Array.from({ length: num({ integer: true, min: 1, max: 100 })(v, p) }, (_, i) => i);
  const list = arrayOf(num({ integer: true, min: 0, max: 0xffffffff }), { min: 1 })(v, p);
  if (new Set(list).size !== list.length) fail(p, 'has a repeated seed');
  return list;
}

/** `report`: which variant the report's heatmap shows (checked against the variants afterwards). */
function parseReportSettings(v: unknown, p: string): StudySpec['report'] {
  const r = new Fields(v, p);
  const out = { heatmap: r.get('heatmap', nullable(str), null) };
  r.done();
  return out;
}

/**
 * The study's variants, each swept one (its own sweep or the study's, never both) expanded into
 * one variant per value, named `name@field=value`; every `clean` must name a variant. Returns the
 * variants with the set of declared (unexpanded) names.
 */
function parseVariants(rawVariants: Record<string, unknown>[], sweep: StudySpec['sweep'], finetune: TrainSettings): { variants: VariantSpec[]; names: Set<string> } {
  const hasClean = rawVariants.some((r) => r.kind === 'clean' && r.name === 'clean' && !r.sweep);
  const variants: VariantSpec[] = [];
  const names = new Set<string>();
  rawVariants.forEach((r, i) => {
    const path = `variants[${i}]`;
    const nm = new Fields(r, path).need('name', str);
    if (names.has(nm)) fail(`${path}.name`, `variant name ${JSON.stringify(nm)} is used twice`);
    names.add(nm);
    const own = r.sweep !== undefined ? parseSweep(r.sweep, `${path}.sweep`) : null;
    if (own && sweep) fail(`${path}.sweep`, 'the study sweeps already (top-level sweep); sweep in one place');
    const s = own ?? sweep;
    if (!s) {
      variants.push(parseVariant(r, path, { finetune, hasClean }, nm, null));
      return;
    }
    const { sweep: _drop, ...rest } = r;
    for (const value of s.values) {
      const swept = setPath(rest, s.field, value);
      const at = `${path} (${s.field}=${JSON.stringify(value)})`;
      variants.push(parseVariant(swept, at, { finetune, hasClean }, `${nm}@${s.field}=${String(value)}`, { field: s.field, value }));
    }
  });
  for (const v of variants) {
    if (v.clean !== null && !names.has(v.clean)) fail(`${v.path}.clean`, `no variant named ${JSON.stringify(v.clean)}`);
  }
  return { variants, names };
}

function parseEvaluation(v: unknown, p: string, dataset: string, datasets: DatasetSpec[]): EvalSettings {
  const f = new Fields(v, p);
  const ks = f.get(
    'ks',
    (x, at) => {
      const list = arrayOf(num({ integer: true, min: 1 }), { min: 1 })(x, at);
      return [...new Set(list)].sort((a, b) => a - b);
    },
    [...HIT_KS],
  );
  const e: EvalSettings = {
    mode: f.get('mode', oneOf(['exact', 'ann'] as const), 'exact'),
    ks,
    split: f.get('split', oneOf(SPLITS), 'test'),
    seed: f.get('seed', num({ integer: true, min: 0, max: 0xffffffff }), 0),
    utility: f.get('utility', bool, true),
    drift: f.get('drift', bool, true),
    datasets: f.get('datasets', arrayOf(str, { min: 1 }), [dataset]),
  };
  const repeat = f.get('queryRepeat', num({ integer: true, min: 1, max: 10 }));
  if (repeat !== undefined && repeat !== 1) e.queryRepeat = repeat;
  f.done();
  e.datasets.forEach((d, i) => {
    if (!datasets.some((x) => x.name === d)) fail(`${p}.datasets[${i}]`, `${JSON.stringify(d)} is not among datasets (${datasets.map((x) => x.name).join(', ')})`);
  });
  if (!e.ks.includes(10)) fail(`${p}.ks`, 'must include 10 (the headline Hit@10)');
  return e;
}

/** Reads and parses a study file; a missing file or bad JSON is a one-line UserError. */
export function readStudy(file: string): StudySpec {
  if (!existsSync(file)) throw new UserError(`no study file ${file}`, 'study_not_found');
  const text = readFileSync(file, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UserError(`study ${basename(file)}: not valid JSON (${(err as Error).message.split('\n')[0]})`, 'bad_study');
  }
  return parseStudy(value, file, text);
}

/** Expands variants whose kind turns one into several (e.g. goal "all") once the classes are known. */
export function expandVariants(study: StudySpec, ctx: VariantExpandContext): VariantSpec[] {
  try {
    const out: VariantSpec[] = [];
    for (const v of study.variants) {
      const kind = getVariantKind(v.kind, `${v.path}.kind`);
      out.push(...(kind.expand ? kind.expand(v, ctx) : [v]));
    }
    return out;
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(`study ${study.source.file ? basename(study.source.file) : study.id}: ${err.message}`, 'bad_study');
    throw err;
  }
}
