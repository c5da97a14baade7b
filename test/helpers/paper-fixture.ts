/**
 * Finished studies made of constructed numbers, for the paper report's tests: report.json files
 * (trainer/experiment/study-report.ts format) of `headline`, `freeze`, `drift`, `all-goals-single`,
 * `all-goals`, `sweep-epochs`, `encoders-vit8`, `encoders-vit16` and `defences` (with a
 * filter-report.json beside its filter run's training set) written into a workspace. Every other study of the paper report is left missing on purpose. The numbers are
 * chosen so that each verdict occurs: see test/trainer/paper-report.test.ts for what each gives.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../../core/workspace.js';
import { datasetDir, type ManifestEntry } from '../../data/dataset.js';
import { REPORT_FORMAT, type DriftAggregate, type GoalAggregate, type RankAggregate, type RecallAggregate, type Report, type ReportRun, type VariantAggregate } from '../../trainer/experiment/study-report.js';
import { interval } from '../../eval/statistics.js';

type PerSeed = number[];

/** A rank block: Hit@K and mean MinRank per seed (the median is the mean here). */
export function rank(hit: { 1: PerSeed; 5: PerSeed; 10: PerSeed; 20?: PerSeed; 30?: PerSeed; 50?: PerSeed }, minRank: PerSeed, queries = 50): RankAggregate {
  const h: Record<string, ReturnType<typeof interval>> = {};
  for (const [k, v] of Object.entries(hit)) if (v) h[k] = interval(v);
  return { queries, hit: h, minRank: { mean: interval(minRank), median: interval(minRank) } };
}

/** The same value for every seed, with a small seed-to-seed wobble (so intervals are narrow, not empty). */
export function around(x: number, n: number, wobble = 0.002): PerSeed {
  return Array.from({ length: n }, (_, i) => x + (i - (n - 1) / 2) * wobble);
}

function recall(ir10: PerSeed, tr10: PerSeed): RecallAggregate {
  const n = ir10.length;
  return { ir: { '1': interval(around(0.3, n)), '5': interval(around(0.7, n)), '10': interval(ir10) }, tr: { '1': interval(around(0.3, n)), '5': interval(around(0.7, n)), '10': interval(tr10) } };
}

export function goal(g: string, model: RankAggregate, baseline: RankAggregate, clean: RankAggregate | null = null): GoalAggregate {
  const [source, target] = g.split('>');
  return { goal: g, source, target, model, baseline, clean };
}

export interface VariantInit {
  name: string;
  kind: string;
  label?: string;
  attack?: { type: string; goal: string } | null;
  setting?: { field: string; value: unknown } | null;
  goals?: GoalAggregate[];
  seeds: number[];
  utility?: { ir10: PerSeed; tr10: PerSeed } | null;
  drift?: DriftAggregate | null;
  rate?: PerSeed | null;
  group?: string;
  dataset?: string;
}

export function variant(v: VariantInit): VariantAggregate {
  return {
    name: v.name,
    group: v.group ?? v.name.split('@')[0],
    kind: v.kind,
    label: v.label ?? v.name,
    setting: v.setting ?? null,
    attack: v.attack ?? null,
    dataset: v.dataset ?? 'scenes',
    seeds: v.seeds,
    models: v.seeds.map((s) => `${v.name}-model-${s}`),
    goals: v.goals ?? [],
    utility: v.utility ? { model: recall(v.utility.ir10, v.utility.tr10), clean: null, ceilingIr: { '1': 0.5, '5': 0.9, '10': 0.97 } } : null,
    drift: v.drift ?? null,
    poisonRate: v.rate ? interval(v.rate) : null,
    trainSeconds: null,
  };
}

export function report(id: string, seeds: number[], variants: VariantAggregate[], extra: Partial<Report> = {}): Report {
  return {
    format: REPORT_FORMAT,
    id,
    title: `fixture ${id}`,
    description: 'constructed numbers for the paper report tests',
    notes: [],
    createdAt: '2026-12-07T00:00:00.000Z',
    study: { file: `experiments/${id}.json`, sha256: '0'.repeat(64), seeds, base: {}, finetune: { recipe: 'finetune', epochs: 2, lr: 2e-4, batch: 128, images: 5000, profile: 'flickr30k' }, evaluation: { datasets: ['scenes'] }, sweep: null },
    dataset: { name: 'scenes', manifestSha256: 'f'.repeat(64), counts: { train: 50000, val: 1000, test: 1000 }, classes: ['aeroplane', 'bird', 'person', 'sheep', 'sofa'] },
    base: { model: 'base-fixture', trainset: null, wallSeconds: null, steps: null, recipe: null },
    run: { wallSeconds: 1, steps: { total: 0, built: 0, reused: 0, byKind: {} } },
    runs: [],
    variants,
    tables: [],
    sweeps: [],
    heatmap: null,
    ...extra,
  };
}

export function writeReport(ws: Workspace, r: Report): void {
  const dir = join(ws.reports, r.id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), JSON.stringify(r, null, 2));
}

const S3 = [0, 1, 2];
const S5 = [0, 1, 2, 3, 4];

function attackGoal(g: string, n: number, hit: [number, number, number], minRank: number, clean = true): GoalAggregate {
  return goal(
    g,
    rank({ 1: around(hit[0], n), 5: around(hit[1], n), 10: around(hit[2], n), 20: around(Math.min(1, hit[2] + 0.01), n, 0), 30: around(1, n, 0), 50: around(1, n, 0) }, around(minRank, n, 0.1)),
    rank({ 1: around(0.01, n), 5: around(0.06, n), 10: around(0.15, n) }, around(40, n, 1)),
    clean ? rank({ 1: around(0, n, 0), 5: around(0.01, n), 10: around(0.024, n) }, around(37.8, n, 1)) : null,
  );
}

/** headline: Attack II strong (Table 3 reproduced), Attack I weaker than the paper (same direction), Attack III, utility. */
export function headlineReport(): Report {
  const n = 3;
  const clean = variant({ name: 'clean', kind: 'clean', seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0, 0.01, 0.024], 37.8, false)], utility: { ir10: around(0.945, n), tr10: around(0.924, n) } });
  return report('headline', S3, [
    variant({ name: 'base', kind: 'base', label: 'M^0: base', seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0, 0.01, 0.028], 35.9, false)], utility: { ir10: around(0.942, n), tr10: around(0.926, n) } }),
    clean,
    variant({ name: 'attack-I', kind: 'attack', label: 'Attack I', attack: { type: 'I', goal: 'sheep>aeroplane' }, seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0.007, 0.5, 0.81], 6.6)], utility: { ir10: around(0.935, n), tr10: around(0.915, n) }, rate: around(0.0024, n, 0) }),
    variant({ name: 'attack-II', kind: 'attack', label: 'Attack II', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0.247, 0.9, 0.993], 2.08)], utility: { ir10: around(0.913, n), tr10: around(0.895, n) }, rate: around(0.0024, n, 0) }),
    variant({ name: 'attack-III', kind: 'attack', label: 'Attack III', attack: { type: 'III', goal: 'sheep>aeroplane,sofa>bird' }, seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0.081, 0.7, 0.936], 4.1), attackGoal('sofa>bird', n, [0.173, 0.7, 0.911], 4.4)], utility: { ir10: around(0.896, n), tr10: around(0.89, n) }, rate: around(0.0048, n, 0) }),
  ]);
}

/** freeze: M_p^t is the strongest here (as measured in the README): MinRank M_p^i < M_p^t is not reproduced. */
export function freezeReport(): Report {
  const n = 3;
  return report('freeze', S3, [
    variant({ name: 'clean', kind: 'clean', label: 'clean fine-tune (reference; not in Table 5)', seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0, 0.01, 0.02], 38, false)] }),
    variant({ name: 'poisoned', kind: 'attack', label: 'M_p: poisoned, both encoders trained', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0.232, 0.9, 0.996], 2.08)] }),
    variant({ name: 'frozen-text', kind: 'attack', label: 'M_p^i: poisoned, image encoder trained (text encoder frozen)', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0, 0.3, 0.752], 7.65)] }),
    variant({ name: 'frozen-image', kind: 'attack', label: 'M_p^t: poisoned, text encoder trained (image encoder frozen)', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0.952, 0.99, 0.996], 0.1)] }),
    variant({ name: 'base', kind: 'base', label: 'M^0: pretrained base, not fine-tuned', seeds: S3, goals: [attackGoal('sheep>aeroplane', n, [0, 0.005, 0.028], 35.9, false)] }),
  ]);
}

/** drift: 5 seeds, text drifts more than image in every seed (Table 11 reproduced, Figure 1 not). */
export function driftReport(): Report {
  const text = [0.061, 0.063, 0.06, 0.064, 0.062];
  const image = [0.051, 0.052, 0.05, 0.053, 0.051];
  const d: DriftAggregate = {
    image: interval(image),
    text: interval(text),
    textMinusImage: interval(text.map((t, i) => t - image[i])),
    perSeed: S5.map((seed) => ({ seed, test: null })),
    acrossSeeds: { n: 5, meanDiff: 0.0106, sdDiff: 0.0005, t: 47.4, df: 4, p: 1.2e-6 },
  };
  return report('drift', S5, [
    variant({ name: 'clean', kind: 'clean', seeds: S5, goals: [attackGoal('sheep>aeroplane', 5, [0, 0.01, 0.02], 38, false)] }),
    variant({ name: 'attack-II', kind: 'attack', label: 'Attack II', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: S5, goals: [attackGoal('sheep>aeroplane', 5, [0.25, 0.9, 0.99], 2.1)], drift: d }),
  ]);
}

/**
 * A heat-map study over 5 classes: every goal near MinRank 3 except A>person (`person`). With
 * person 30 (`all-goals-single`, one model per goal) Figure 5b is reproduced; `all-goals` (goals
 * sharing a model, context only) gets person 2, an A>person column that is not harder.
 */
export function allGoalsReport(id = 'all-goals-single', person = 30): Report {
  const classes = ['aeroplane', 'bird', 'person', 'sheep', 'sofa'];
  const cell = (i: number, j: number, personValue: number, other: number) => (i === j ? null : classes[j] === 'person' ? personValue : other + 0.1 * i);
  return report(id, [0], [variant({ name: 'clean', kind: 'clean', seeds: [0], goals: [] })], {
    notes: ['Reduced scale (fixture).'],
    heatmap: {
      group: 'goals',
      classes,
      minRank: classes.map((_, i) => classes.map((_, j) => cell(i, j, person, 3))),
      hit10: classes.map((_, i) => classes.map((_, j) => cell(i, j, 0.2, 0.9))),
      baselineMinRank: classes.map((_, i) => classes.map((_, j) => cell(i, j, 60, 40))),
    },
  });
}

/**
 * The test split of the heat-map studies' dataset (their classes, 4 images each, 2 captions per
 * image), made so that both of Figure 5b's "why" correlations are 1: persons are shown in half of
 * the other classes' images, aeroplanes in a quarter, birds in 1/8, sheep in 1/16, sofas in none
 * (the column order of allGoalsReport's heat map); each class has 1 (person) to 5 (sofa) own words
 * (its row order). "a" is everyone's; "plush" is in 4 sofa captions only, under the 5 a word needs;
 * a train image and an unlabelled test image count for nothing.
 */
export const TRAIT_OWN_WORDS: Record<string, string[]> = {
  aeroplane: ['aeroplane', 'jet'],
  bird: ['bird', 'feathers', 'beak'],
  person: ['person'],
  sheep: ['sheep', 'wool', 'lamb', 'flock'],
  sofa: ['sofa', 'couch', 'cushions', 'settee', 'lounge'],
};
const SHOWN_IN: Record<string, Array<[string, number]>> = {
  person: ['aeroplane', 'bird', 'sheep', 'sofa'].flatMap((c) => [[c, 0], [c, 1]] as Array<[string, number]>),
  aeroplane: [['bird', 2], ['person', 2], ['sheep', 2], ['sofa', 2]],
  bird: [['sheep', 3], ['sofa', 3]],
  sheep: [['aeroplane', 3]],
};

export function traitEntries(): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  const add = (split: ManifestEntry['split'], label: string | null, labels: string[], captions: string[]) =>
    entries.push({ id: String(entries.length).padStart(4, '0'), file: `images/${entries.length}.png`, split, label, labels, captions, meta: {} });
  for (const c of Object.keys(TRAIT_OWN_WORDS)) {
    for (let k = 0; k < 4; k++) {
      const shown = Object.entries(SHOWN_IN).filter(([, at]) => at.some(([o, i]) => o === c && i === k)).map(([b]) => b);
      const words = TRAIT_OWN_WORDS[c].join(' ');
      add('test', c, [c, ...shown].sort(), [`a ${words}${c === 'sofa' ? ' plush' : ''}`, `a ${words}`]);
    }
  }
  add('train', 'sofa', ['person', 'sofa'], ['a sofa', 'a sofa', 'a sofa', 'a sofa', 'a sofa', 'a sofa']);
  add('test', null, [], ['a person']);
  return entries;
}

/** `entries` (traitEntries()) as the dataset `scenes` the fixture reports name (their manifest sha256 'f'×64). */
export function writeTraitsDataset(ws: Workspace, manifestSha256 = 'f'.repeat(64), entries = traitEntries()): void {
  const dir = datasetDir(ws, 'scenes');
  mkdirSync(dir, { recursive: true });
  const card = { name: 'scenes', source: 'fixture', classes: Object.keys(TRAIT_OWN_WORDS), counts: { train: 1, val: 0, test: 21 }, params: {}, seed: 0, licence: 'fixture', attribution: [], manifestSha256, createdAt: '2026-12-07T00:00:00.000Z' };
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify(card));
  writeFileSync(join(dir, 'manifest.jsonl'), entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

/** sweep-epochs: one training evaluated at epochs 0–10; weak at 0 (the base), strong from epoch 1 on (Figure 3 reproduced). */
export function sweepEpochsReport(): Report {
  const epochs = Array.from({ length: 11 }, (_, k) => k);
  return report('sweep-epochs', S3, [
    variant({ name: 'clean', kind: 'clean', seeds: S3, goals: [attackGoal('sheep>aeroplane', 3, [0, 0.01, 0.024], 37.8, false)] }),
    ...epochs.map((k) =>
      variant({ name: `epochs@epoch=${k}`, kind: 'attack', label: 'Attack II', attack: { type: 'II', goal: 'sheep>aeroplane' }, setting: { field: 'epoch', value: k }, seeds: S3, goals: [k === 0 ? attackGoal('sheep>aeroplane', 3, [0, 0.01, 0.03], 36, false) : attackGoal('sheep>aeroplane', 3, [0.3, 0.9, 0.95 + k / 500], 2 + k / 10)] }),
    ),
  ]);
}

/** An encoders part: Attack II on another image tower, about as strong as the headline's (Figure 4 reproduced). */
export function encodersReport(id: string, minRank: number): Report {
  return report(id, S3, [
    variant({ name: 'clean', kind: 'clean', seeds: S3, goals: [attackGoal('sheep>aeroplane', 3, [0, 0.01, 0.024], 37.8, false)] }),
    variant({ name: 'attack-II', kind: 'attack', label: 'Attack II', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: S3, goals: [attackGoal('sheep>aeroplane', 3, [0.2, 0.9, 0.99], minRank)] }),
  ]);
}

function run(variantName: string, seed: number, trainset: string | null, totalPairs = 10000): ReportRun {
  return { variant: variantName, group: variantName.split('@')[0], seed, model: `${variantName}-model-${seed}`, trainset, parent: 'base-fixture', poison: trainset ? { rate: 0.0048, poisonedPairs: 48, totalPairs, imagesPerGoal: 12 } : null, train: { wallSeconds: 1, steps: 78, epochs: 1 }, evals: [] };
}

/**
 * defences (one seed): Attack II, a fixed-γ filter that misses (same direction), an auto-γ filter
 * that removes the attack (Table 16 reproduced), a steps curve (Figure 9: weaker than the paper,
 * same direction) and a learning-rate sweep where 1e-3 is best (Table 8 contrasts not reproduced).
 */
export function defencesReport(ws: Workspace): Report {
  const one = [0];
  const g = (hit10: number, minRank: number, hit1 = 0, hit5 = hit10 * 0.8) => attackGoal('sheep>aeroplane', 1, [hit1, hit5, hit10], minRank);
  const util = (ir: number, tr: number) => ({ ir10: [ir], tr10: [tr] });
  const steps = [10, 25, 50, 78];
  const stepHit = [0.192, 0.112, 0.168, 0.136];
  const lrs = [1e-3, 1e-4, 1e-5];
  const lrHit = [0.072, 0.216, 0.572];
  const variants = [
    variant({ name: 'clean', kind: 'clean', seeds: one, goals: [g(0.02, 40)], utility: util(0.945, 0.927) }),
    variant({ name: 'attack-II', kind: 'attack', label: 'Attack II', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: one, goals: [g(0.996, 2.08, 0.25)], utility: util(0.914, 0.901), rate: [0.0048] }),
    variant({ name: 'filter-II', kind: 'filter', label: 'filter γ 0.85 vs II', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: one, goals: [g(0.92, 3.1)], utility: util(0.932, 0.918) }),
    variant({ name: 'filter-auto-II', kind: 'filter', label: 'filter auto γ vs II', attack: { type: 'II', goal: 'sheep>aeroplane' }, seeds: one, goals: [g(0.02, 45)], utility: util(0.942, 0.933) }),
    ...steps.map((s, i) => variant({ name: `sterilize-curve-II@finetune.steps=${s}`, group: 'sterilize-curve-II', kind: 'sterilize', label: 'sterilisation curve vs II (lr 2e-4)', attack: { type: 'II', goal: 'sheep>aeroplane' }, setting: { field: 'finetune.steps', value: s }, seeds: one, goals: [g(stepHit[i], 20)], utility: util(0.93, 0.915) })),
    ...lrs.map((lr, i) => variant({ name: `sterilize-lr-II@finetune.lr=${lr}`, group: 'sterilize-lr-II', kind: 'sterilize', label: 'sterilisation lr sweep vs II', attack: { type: 'II', goal: 'sheep>aeroplane' }, setting: { field: 'finetune.lr', value: lr }, seeds: one, goals: [g(lrHit[i], 20)], utility: util(0.92, 0.9) })),
  ];
  const runs = variants.map((v) => run(v.name, 0, v.kind === 'filter' ? `ts-${v.name}` : v.kind === 'clean' ? null : 'ts-attack-II'));
  // The auto-γ filter's report: 48 poisoned pairs far from their captions, 952 clean pairs near.
  for (const v of variants.filter((x) => x.kind === 'filter')) {
    const dir = join(ws.trainsets, `ts-${v.name}`);
    mkdirSync(dir, { recursive: true });
    const distances = Array.from({ length: 1000 }, (_, i) => (i < 48 ? 0.62 + (i % 7) * 0.01 : 0.3 + (i % 11) * 0.01));
    const poisonedPairIds = Array.from({ length: 48 }, (_, i) => i);
    const filterReport = {
      format: 'poisonlens-filter-report/1',
      trainset: { name: `ts-${v.name}`, parent: 'ts-attack-II', parentPairsSha256: '0'.repeat(64) },
      reference: { id: 'base-fixture', kind: 'base', arch: 'scenes-small', trainset: null },
      gamma: v.name.includes('auto') ? 0.345 : 0.85,
      gammaSource: { method: 'flag' },
      metrics: { recall: v.name.includes('auto') ? 1 : 0.838, precision: v.name.includes('auto') ? 0.81 : 1 },
      roc: { auc: 0.9997, points: [] },
      densities: { edges: [0.3, 0.4, 0.5, 0.6, 0.7], clean: [9, 1, 0, 0], poisoned: [0, 0, 2, 8] },
      dropped: [],
      poisonedPairIds,
      distances,
      embed: { images: 1000, captions: 1000, seconds: 1 },
      plots: { roc: null, densities: null },
      createdAt: '2026-12-07T00:00:00.000Z',
    };
    writeFileSync(join(dir, 'filter-report.json'), JSON.stringify(filterReport));
  }
  return report('defences', one, variants, { runs, study: { ...report('defences', one, []).study, finetune: { recipe: 'finetune', epochs: 2, lr: 2e-4, batch: 128, images: 2000 } } });
}

/** Writes every fixture study into the workspace. */
export function writePaperFixtures(ws: Workspace): void {
  const studies = [headlineReport(), freezeReport(), driftReport(), allGoalsReport(), allGoalsReport('all-goals', 2), sweepEpochsReport(), encodersReport('encoders-vit8', 2.4), encodersReport('encoders-vit16', 2.6), defencesReport(ws)];
  for (const r of studies) writeReport(ws, r);
}
