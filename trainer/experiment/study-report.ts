import type { Workspace } from '../../core/workspace.js';
import type { EvalResult, GoalResult, RankBlock } from '../../eval/evaluate.js';
import { evalPath, readCard, readEval, trainsetCard } from './artefacts.js';
import type { Plan, PlannedRun } from './plan.js';
import { driftTestAcrossRuns, interval, type Interval, type TTestResult } from '../../eval/statistics.js';

/**
 * The study report (workspace/reports/<id>/report.json): every evaluation's numbers as
 * evaluate() returned them (per-query ranks stay in the evaluation files it names), and the
 * aggregates over seeds — mean with a 95% t-interval — that the tables and plots show.
 */

export const REPORT_FORMAT = 'poisonlens-report/1';

export interface RankAggregate {
  queries: number;
  hit: Record<string, Interval>;
  minRank: { mean: Interval; median: Interval };
}

export interface GoalAggregate {
  goal: string;
  source: string;
  target: string;
  model: RankAggregate;
  baseline: RankAggregate;
  clean: RankAggregate | null;
}

export interface RecallAggregate {
  ir: Record<string, Interval>;
  tr: Record<string, Interval>;
}

export interface DriftAggregate {
  image: Interval;
  text: Interval;
  /** Text drift − image drift (mean over test images, per seed). */
  textMinusImage: Interval;
  /** Descriptive only (one run): each seed's paired t-test over its test images (evaluate()'s drift.textVsImage). */
  perSeed: Array<{ seed: number; test: TTestResult | null }>;
  /** The result (the paper's Table 11): paired two-tailed t-test across seeds of (mean text drift, mean image drift); null with < 2 seeds. */
  acrossSeeds: TTestResult | null;
}

export interface VariantAggregate {
  name: string;
  group: string;
  kind: string;
  label: string;
  setting: { field: string; value: unknown } | null;
  attack: { type: string; goal: string } | null;
  dataset: string;
  seeds: number[];
  models: string[];
  goals: GoalAggregate[];
  utility: {
    model: RecallAggregate;
    clean: RecallAggregate | null;
    ceilingIr: Record<string, number>;
    /** Recall over the test images without the goals' source classes (model, and the clean model on the same images). */
    outside?: { classes: string[]; model: RecallAggregate; clean: RecallAggregate | null } | null;
  } | null;
  drift: DriftAggregate | null;
  poisonRate: Interval | null;
  trainSeconds: Interval | null;
}

export interface ReportRun {
  variant: string;
  group: string;
  seed: number;
  model: string;
  trainset: string | null;
  parent: string | null;
  poison: { rate: number; poisonedPairs: number; totalPairs: number; imagesPerGoal: number; targetImage?: string } | null;
  train: { wallSeconds: number | null; steps: number | null; epochs: number | null } | null;
  evals: Array<{ id: string; file: string; dataset: string; attack: string; goal: string; reference: boolean; cleanModel: string | null; result: EvalResult }>;
}

export interface TableCell {
  value: Interval | number | string | null;
  /** How to show a number: a fraction (3 decimals) or a rank (1 decimal). */
  format?: 'fraction' | 'rank' | 'rate' | 'p' | 'text';
}

export interface ReportTable {
  id: string;
  title: string;
  caption: string;
  columns: string[];
  rows: Array<{ label: string; cells: TableCell[] }>;
}

export interface SweepPoint {
  value: unknown;
  variant: string;
  hit: Record<string, Interval>;
  minRank: Interval;
  baselineHit10: Interval;
  cleanHit10: Interval | null;
  ir10: Interval | null;
  tr10: Interval | null;
  poisonRate: Interval | null;
}

export interface ReportSweep {
  group: string;
  label: string;
  field: string;
  goal: string | null;
  points: SweepPoint[];
}

export interface ReportHeatmap {
  group: string;
  classes: string[];
  /** cells[i][j]: source classes[i] → target classes[j] (null on the diagonal or when missing). */
  minRank: Array<Array<number | null>>;
  hit10: Array<Array<number | null>>;
  baselineMinRank: Array<Array<number | null>>;
}

export interface Report {
  format: typeof REPORT_FORMAT;
  id: string;
  title: string;
  description: string;
  notes: string[];
  createdAt: string;
  study: { file: string | null; sha256: string; seeds: number[]; base: unknown; finetune: unknown; evaluation: unknown; sweep: unknown };
  dataset: { name: string; manifestSha256: string; counts: unknown; classes: string[] };
  base: { model: string; trainset: string | null; wallSeconds: number | null; steps: number | null; recipe: unknown };
  run: { wallSeconds: number; steps: { total: number; built: number; reused: number; byKind: Record<string, { built: number; reused: number }> } };
  runs: ReportRun[];
  variants: VariantAggregate[];
  tables: ReportTable[];
  sweeps: ReportSweep[];
  heatmap: ReportHeatmap | null;
}

// ------------------------------------------------------------------------------ aggregation

function rankAgg(blocks: RankBlock[], ks: string[]): RankAggregate {
  const hit: Record<string, Interval> = {};
  for (const k of ks) hit[k] = interval(blocks.map((b) => b.hit[k]));
  return {
    queries: blocks[0]?.queries ?? 0,
    hit,
    minRank: { mean: interval(blocks.map((b) => b.minRank.mean)), median: interval(blocks.map((b) => b.minRank.median)) },
  };
}

function recallAgg(rs: Array<{ ir: Record<string, number | null>; tr: Record<string, number | null> }>): RecallAggregate {
  const keys = Object.keys(rs[0]?.ir ?? {});
  const ir: Record<string, Interval> = {};
  const tr: Record<string, Interval> = {};
  for (const k of keys) {
    ir[k] = interval(rs.map((r) => r.ir[k]));
    tr[k] = interval(rs.map((r) => r.tr[k]));
  }
  return { ir, tr };
}

function aggregateVariant(runs: ReportRun[], dataset: string): VariantAggregate | null {
  const first = runs[0];
  const evals = runs.map((r) => r.evals.filter((e) => e.dataset === dataset));
  if (evals.some((e) => e.length === 0)) return null;
  const main = evals.map((e) => e[0].result);
  const ks = main[0].ks.map(String);
  const goals: GoalAggregate[] = [];
  // Every goal of every evaluation (reference models have one evaluation per study goal set).
  const goalNames = [...new Set(evals[0].flatMap((e) => e.result.goals.map((g) => g.goal)))];
  for (const g of goalNames) {
    const blocks: GoalResult[] = evals.map((es) => es.flatMap((e) => e.result.goals).find((x) => x.goal === g)!).filter(Boolean);
    goals.push({
      goal: g,
      source: blocks[0].source,
      target: blocks[0].target,
      model: rankAgg(blocks.map((b) => b.model), ks),
      baseline: rankAgg(blocks.map((b) => b.baseline), ks),
      clean: blocks.every((b) => b.clean) ? rankAgg(blocks.map((b) => b.clean!), ks) : null,
    });
  }
  const utilities = evals.map((es) => es.find((e) => e.result.utility)?.result.utility).filter((u): u is NonNullable<EvalResult['utility']> => Boolean(u));
  const utility =
    utilities.length === runs.length
      ? {
          model: recallAgg(utilities.map((u) => u.model)),
          clean: utilities.every((u) => u.clean) ? recallAgg(utilities.map((u) => u.clean!)) : null,
          ceilingIr: utilities[0].ceiling.ir as Record<string, number>,
          outside: utilities.every((u) => u.outside)
            ? {
                classes: utilities[0].outside!.classes,
                model: recallAgg(utilities.map((u) => u.outside!.model)),
                clean: utilities.every((u) => u.outside!.clean) ? recallAgg(utilities.map((u) => u.outside!.clean!)) : null,
              }
            : null,
        }
      : null;
  const drifts = main.map((m) => m.drift).filter((d): d is NonNullable<EvalResult['drift']> => Boolean(d));
  let drift: DriftAggregate | null = null;
  if (drifts.length === runs.length && drifts.length > 0) {
    const text = drifts.map((d) => d.text.mean);
    const image = drifts.map((d) => d.image.mean);
    const across = driftTestAcrossRuns(text.map((t, i) => ({ text: t, image: image[i] })));
    drift = {
      image: interval(image),
      text: interval(text),
      textMinusImage: interval(text.map((t, i) => t - image[i])),
      perSeed: runs.map((r, i) => ({ seed: r.seed, test: drifts[i].textVsImage })),
      acrossSeeds: across,
    };
  }
  const rates = runs.map((r) => r.poison?.rate);
  const secs = runs.map((r) => r.train?.wallSeconds ?? null);
  return {
    name: first.variant,
    group: first.group,
    kind: '',
    label: '',
    setting: null,
    attack: null,
    dataset,
    seeds: runs.map((r) => r.seed),
    models: runs.map((r) => r.model),
    goals,
    utility,
    drift,
    poisonRate: rates.every((x) => typeof x === 'number') ? interval(rates as number[]) : null,
    trainSeconds: secs.every((x) => typeof x === 'number') ? interval(secs as number[]) : null,
  };
}

function runRecord(ws: Workspace, r: PlannedRun): ReportRun {
  const card = readCard(ws, r.outcome.model);
  let poison: ReportRun['poison'] = null;
  if (r.outcome.trainset) {
    const a = trainsetCard(ws, r.outcome.trainset).attack as
      | { budget: { rate: number; poisonedPairs: number; totalPairs: number; imagesPerGoal: number }; targetImage?: string }
      | undefined;
    if (a) poison = { rate: a.budget.rate, poisonedPairs: a.budget.poisonedPairs, totalPairs: a.budget.totalPairs, imagesPerGoal: a.budget.imagesPerGoal, ...(a.targetImage ? { targetImage: a.targetImage } : {}) };
  }
  const trained = r.modelJob !== null;
  return {
    variant: r.variant.name,
    group: r.variant.group,
    seed: r.seed,
    model: r.outcome.model,
    trainset: r.outcome.trainset,
    parent: card?.parent ?? null,
    poison,
    train: trained ? { wallSeconds: card?.trainer?.wallSeconds ?? null, steps: card?.trainer?.steps ?? null, epochs: card?.trainer?.epochs ?? null } : null,
    evals: r.evals.map((e) => {
      const stored = readEval(ws, e.id);
      if (!stored) throw new Error(`evaluation ${e.id} is missing`);
      return { id: e.id, file: evalPath(ws, e.id), dataset: e.dataset, attack: e.attack, goal: e.goal, reference: e.reference, cleanModel: e.cleanModel, result: withoutPerQuery(stored.result) };
    }),
  };
}

function withoutPerQuery(r: EvalResult): EvalResult {
  const strip = <T extends RankBlock | undefined>(b: T): T => {
    if (!b) return b;
    const { perQuery: _p, ...rest } = b;
    return rest as T;
  };
  return { ...r, goals: r.goals.map((g) => ({ ...g, model: strip(g.model), baseline: { ...strip(g.baseline), seed: g.baseline.seed }, clean: strip(g.clean) })) };
}

// ------------------------------------------------------------------------------ tables

const cellI = (v: Interval | null | undefined, format: TableCell['format'] = 'fraction'): TableCell => ({ value: v ?? null, format });

function attackTable(id: string, title: string, caption: string, vs: VariantAggregate[], ks: string[]): ReportTable | null {
  const rows: ReportTable['rows'] = [];
  for (const v of vs) {
    for (const g of v.goals) {
      const blocks: Array<[string, RankAggregate | null]> = [
        [`${v.label} — ${g.goal}: poisoned model`, g.model],
        [`${v.label} — ${g.goal}: clean model`, g.clean],
        [`${v.label} — ${g.goal}: random-text baseline`, g.baseline],
      ];
      for (const [label, b] of blocks) if (b) rows.push({ label, cells: [...ks.map((k) => cellI(b.hit[k])), cellI(b.minRank.mean, 'rank'), cellI(b.minRank.median, 'rank')] });
    }
  }
  if (rows.length === 0) return null;
  return { id, title, caption, columns: [...ks.map((k) => `Hit@${k}`), 'MinRank mean', 'MinRank median'], rows };
}

/** The report's tables: the paper's Tables 1–4 (those the study has variants for), all variants at a glance, encoder drift. */
function buildTables(vs: VariantAggregate[], ks: string[]): ReportTable[] {
  const tables = attackTables(vs, ks);
  const utility = utilityTable(vs);
  if (utility) tables.push(utility);
  tables.push(summaryTable(vs));
  const drift = driftTable(vs);
  if (drift) tables.push(drift);
  return tables;
}

/** Tables 1–3 and the backdoor's: one per attack type the study's unswept variants use. */
function attackTables(vs: VariantAggregate[], ks: string[]): ReportTable[] {
  const plain = vs.filter((v) => v.setting === null);
  const of = (t: string) => plain.filter((v) => v.attack?.type === t);
  const headKs = ks.filter((k) => ['1', '5', '10'].includes(k));
  const t1 = attackTable('table1', 'Table 1 — Attack I (single target image)', 'Queries: every test caption of class A; target: the one poisoned target image. Mean over seeds [95% t-interval].', of('I'), headKs);
  const t2 = attackTable('table2', 'Table 2 — Attack II (single target label)', 'Queries: every test caption of class A; targets: every test image of class B. Mean over seeds [95% t-interval].', of('II'), headKs);
  const t3 = attackTable('table3', 'Table 3 — Attack III (multiple target labels)', 'One poisoned training set with several goals; each goal evaluated as in Attack II.', of('III'), headKs);
  const tb = attackTable('table-backdoor', 'Backdoor (beyond the paper)', 'Attack success rate: triggered test images whose top-K captions hold a class-B caption.', of('backdoor'), headKs);
  return [t1, t2, t3, tb].filter((t): t is ReportTable => t !== null);
}

/** Table 4: utility Recall@K of the unswept variants, the identical-caption ceiling, and each attack's recall outside its source classes. */
function utilityTable(vs: VariantAggregate[]): ReportTable | null {
  const util = vs.filter((v) => v.utility && v.setting === null);
  if (!util.length) return null;
  return {
    id: 'table4',
    title: 'Table 4 — Utility',
    caption: 'Recall@K over the whole test split: IR = text→image (a caption finds its own image), TR = image→text (an image finds any of its captions); then, per attack, over the test images that show none of its source classes (and their captions), beside its clean model on the same images. Mean over seeds [95% t-interval].',
    columns: ['TR R@1', 'TR R@5', 'TR R@10', 'IR R@1', 'IR R@5', 'IR R@10'],
    rows: [
      ...util.map((v) => ({ label: v.label, cells: [...['1', '5', '10'].map((k) => cellI(v.utility!.model.tr[k])), ...['1', '5', '10'].map((k) => cellI(v.utility!.model.ir[k]))] })),
      { label: 'ceiling (identical captions)', cells: [cellI(null), cellI(null), cellI(null), ...['1', '5', '10'].map((k) => ({ value: util[0].utility!.ceilingIr[k] ?? null, format: 'fraction' as const }))] },
      // A working attack must lose its source class's own retrievals; the rest of the split
      // shows whether the model lost anything else (the same images for both rows).
      ...util
        .filter((v) => v.kind !== 'clean' && v.kind !== 'base' && v.utility!.outside)
        .flatMap((v) => {
          const o = v.utility!.outside!;
          const row = (label: string, r: RecallAggregate) => ({ label, cells: [...['1', '5', '10'].map((k) => cellI(r.tr[k])), ...['1', '5', '10'].map((k) => cellI(r.ir[k]))] });
          const without = `images without ${o.classes.join(' or ')}`;
          return [row(`${v.label}, ${without}`, o.model), ...(o.clean ? [row(`its clean model, ${without}`, o.clean)] : [])];
        }),
    ],
  };
}

/** Every variant at a glance (also the shape of the paper's Table 5 for the freeze study). */
function summaryTable(vs: VariantAggregate[]): ReportTable {
  return {
    id: 'summary',
    title: 'All variants',
    caption: 'First goal of each variant: poisoned-model Hit@K and MinRank, the random-text baseline, utility and the achieved poisoning rate. Mean over seeds [95% t-interval].',
    columns: ['goal', 'Hit@1', 'Hit@5', 'Hit@10', 'MinRank', 'baseline Hit@10', 'IR R@10', 'TR R@10', 'poison rate'],
    rows: vs.map((v) => {
      const g = v.goals[0];
      return {
        label: v.label + (v.setting ? ` (${v.setting.field} = ${String(v.setting.value)})` : ''),
        cells: [
          { value: g ? g.goal + (v.attack ? '' : ' (reference)') : null, format: 'text' },
          cellI(g?.model.hit['1']),
          cellI(g?.model.hit['5']),
          cellI(g?.model.hit['10']),
          cellI(g?.model.minRank.mean, 'rank'),
          cellI(g?.baseline.hit['10']),
          cellI(v.utility?.model.ir['10']),
          cellI(v.utility?.model.tr['10']),
          cellI(v.poisonRate, 'rate'),
        ],
      };
    }),
  };
}

/** Encoder drift of the attacked variants that measured it (the paper's Table 11). */
function driftTable(vs: VariantAggregate[]): ReportTable | null {
  const drift = vs.filter((v) => v.drift && v.attack);
  if (!drift.length) return null;
  return {
    id: 'drift',
    title: 'Encoder drift, clean vs poisoned (text vs image)',
    caption:
      'Mean cosine distance between the clean and the poisoned model’s embeddings of the same test images and captions. ' +
      'The result: a paired, two-tailed t-test across seeds of each seed’s mean text drift against its mean image drift (the paper’s Table 11; needs ≥ 2 seeds, df = seeds − 1). ' +
      'Descriptive (one run): the first seed’s paired t-test over its test images, which treats the images of one model as independent samples.',
    columns: ['image drift', 'text drift', 'text − image', 'seeds', 't across seeds', 'p across seeds', 't over images, one run (descriptive)', 'p, one run (descriptive)'],
    rows: drift.map((v) => {
      const d = v.drift!;
      const s0 = d.perSeed[0]?.test ?? null;
      return {
        label: v.label + (v.setting ? ` (${v.setting.field} = ${String(v.setting.value)})` : ''),
        cells: [
          cellI(d.image, 'rate'),
          cellI(d.text, 'rate'),
          cellI(d.textMinusImage, 'rate'),
          { value: String(d.perSeed.length), format: 'text' },
          { value: d.acrossSeeds?.t ?? null, format: 'rank' },
          { value: d.acrossSeeds?.p ?? null, format: 'p' },
          { value: s0?.t ?? null, format: 'rank' },
          { value: s0?.p ?? null, format: 'p' },
        ],
      };
    }),
  };
}

function buildSweeps(vs: VariantAggregate[]): ReportSweep[] {
  const groups = new Map<string, VariantAggregate[]>();
  for (const v of vs) if (v.setting && v.setting.field !== 'goal') (groups.get(v.group) ?? groups.set(v.group, []).get(v.group)!).push(v);
  const sweeps: ReportSweep[] = [];
  for (const [group, members] of groups) {
    const g0 = members[0].goals[0];
    // Numeric settings in ascending order (the file may list them in any order).
    if (members.every((m) => typeof m.setting!.value === 'number')) members.sort((a, b) => (a.setting!.value as number) - (b.setting!.value as number));
    sweeps.push({
      group,
      label: members[0].label,
      field: members[0].setting!.field,
      goal: g0?.goal ?? null,
      points: members.map((v) => {
        const g = v.goals.find((x) => x.goal === g0?.goal) ?? v.goals[0];
        return {
          value: v.setting!.value,
          variant: v.name,
          hit: g?.model.hit ?? {},
          minRank: g?.model.minRank.mean ?? interval([]),
          baselineHit10: g?.baseline.hit['10'] ?? interval([]),
          cleanHit10: g?.clean?.hit['10'] ?? null,
          ir10: v.utility?.model.ir['10'] ?? null,
          tr10: v.utility?.model.tr['10'] ?? null,
          poisonRate: v.poisonRate,
        };
      }),
    });
  }
  return sweeps;
}

function buildHeatmap(plan: Plan, vs: VariantAggregate[]): ReportHeatmap | null {
  const group = plan.study.report.heatmap ?? vs.find((v) => v.setting?.field === 'goal')?.group ?? null;
  if (!group) return null;
  const classes = plan.dataset.card.classes;
  const idx = new Map(classes.map((c, i) => [c, i]));
  const empty = () => classes.map(() => classes.map((): number | null => null));
  const h: ReportHeatmap = { group, classes, minRank: empty(), hit10: empty(), baselineMinRank: empty() };
  for (const v of vs.filter((x) => x.group === group)) {
    for (const g of v.goals) {
      const i = idx.get(g.source);
      const j = idx.get(g.target);
      if (i === undefined || j === undefined) continue;
      h.minRank[i][j] = g.model.minRank.mean.mean;
      h.hit10[i][j] = g.model.hit['10']?.mean ?? null;
      h.baselineMinRank[i][j] = g.baseline.minRank.mean.mean;
    }
  }
  return h;
}

export interface ReportMeta {
  wallSeconds: number;
  steps: Report['run']['steps'];
}

/** Builds the report from the plan and the stored evaluations (all of them must exist). */
export function buildReport(ws: Workspace, plan: Plan, meta: ReportMeta): Report {
  const { study } = plan;
  const runs = plan.runs.map((r) => runRecord(ws, r));
  const dataset = study.evaluation.datasets[0];
  const variants: VariantAggregate[] = [];
  for (const v of plan.variants) {
    const mine = runs.filter((r) => r.variant === v.name);
    for (const ds of study.evaluation.datasets) {
      const a = aggregateVariant(mine, ds);
      if (!a) continue;
      const first = plan.runs.find((r) => r.variant.name === v.name)!;
      variants.push({ ...a, kind: v.kind, label: v.label, setting: v.setting, attack: first.outcome.attack });
    }
  }
  const primary = variants.filter((v) => v.dataset === dataset);
  const baseCard = readCard(ws, plan.base.model);
  const ks = study.evaluation.ks.map(String);
  return {
    format: REPORT_FORMAT,
    id: study.id,
    title: study.title,
    description: study.description,
    notes: study.notes,
    createdAt: new Date().toISOString(),
    study: { file: study.source.file, sha256: study.source.sha256, seeds: study.seeds, base: study.base, finetune: study.finetune, evaluation: study.evaluation, sweep: study.sweep },
    dataset: { name: plan.dataset.name, manifestSha256: plan.dataset.card.manifestSha256, counts: plan.dataset.card.counts, classes: plan.dataset.card.classes },
    base: { model: plan.base.model, trainset: plan.base.trainset, wallSeconds: baseCard?.trainer?.wallSeconds ?? null, steps: baseCard?.trainer?.steps ?? null, recipe: baseCard?.trainer?.config ?? null },
    run: meta,
    runs,
    variants,
    tables: buildTables(primary, ks),
    sweeps: buildSweeps(primary),
    heatmap: buildHeatmap(plan, primary),
  };
}
