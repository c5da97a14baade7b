import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../../core/workspace.js';
import { trainsetDir } from '../../data/trainset.js';
import { classTraits, type ClassTraits } from '../../data/class-traits.js';
import { loadDataset, type Split } from '../../data/dataset.js';
import { densitySvg, FILTER_REPORT, type FilterReport } from '../defend/filter.js';
import { PAPER_NUMBERS, paperNumber, type PaperNumber } from './paper-numbers.js';
import {
  fmtM,
  fmtP,
  itemVerdict,
  judgeRow,
  meanOf,
  medianOf,
  pairedDiff,
  SAME_HIT_TOLERANCE,
  SAME_RANK_TOLERANCE,
  UTILITY_TOLERANCE,
  welchDiff,
  type Claim,
  type Metric,
  type OursCell,
  type PaperCell,
  type PaperRow,
  type RowStatus,
} from './paper-verdict.js';
import { REPORT_FORMAT, type RankAggregate, type Report, type ReportHeatmap, type VariantAggregate } from './study-report.js';
import { loadReport } from './runner.js';
import { interval, spearman, type Interval } from '../../eval/statistics.js';
import { barChart, esc, fmtVal, heatmapSvg, linePlot, scatterPlot, type Series } from './svg.js';

/**
 * The items of the paper report (`poisonlens report paper`, ./paper-report.ts): one definition
 * per table and figure of the paper, in its order. Each reads the finished studies it maps to
 * (reports/<study>/report.json; never trains), sets our numbers beside the paper's
 * (./paper-numbers.ts) as rows judged by ./paper-verdict.ts, and draws its plots. A study that
 * has not run gives rows that say so, with the command that runs it.
 */

// ------------------------------------------------------------------------------ reading studies

export interface StudyInfo {
  id: string;
  present: boolean;
  /** Why it is not usable (absent, unreadable, another format). */
  problem: string | null;
  command: string;
  title?: string;
  createdAt?: string;
  seeds?: number[];
  file?: string | null;
}

/**
 * Paper items that several study files answer together (one base per image tower; one
 * evaluation setting per caption length), read as one report: each part's plain attacked
 * variants, labelled by what the part varies. `sterilize` is the second-world sterilisation study.
 */
const COMPOSITES: Record<string, { field: string; parts: Array<{ id: string; value: string | number }> }> = {
  encoders: { field: 'image tower', parts: [{ id: 'headline', value: 'ModifiedResNet' }, { id: 'encoders-vit8', value: 'ViT/8' }, { id: 'encoders-vit16', value: 'ViT/16' }] },
  'text-length': { field: 'captions repeated', parts: [{ id: 'text-length-x1', value: 1 }, { id: 'text-length-x2', value: 2 }, { id: 'text-length-x3', value: 3 }] },
};
const ALIASES: Record<string, string> = { sterilize: 'sterilize-transfer' };

export function studyCommand(id: string): string {
  const c = COMPOSITES[id];
  if (c) return c.parts.map((p) => studyCommand(p.id)).join('; ');
  return `poisonlens experiment experiments/${ALIASES[id] ?? id}.json`;
}

/** The parts' attacked variants as one report (null while a part is missing). */
function composite(id: string, load: (part: string) => Report | null): { report: Report | null; problem: string | null } {
  const c = COMPOSITES[id];
  const parts = c.parts.map((p) => ({ ...p, report: load(p.id) }));
  const absent = parts.filter((p) => !p.report).map((p) => p.id);
  if (absent.length) return { report: null, problem: `missing part${absent.length > 1 ? 's' : ''}: ${absent.join(', ')}` };
  const variants = parts.flatMap((p) =>
    p.report!.variants.filter((v) => v.kind === 'attack' && v.setting === null).map((v) => ({ ...v, name: `${p.id}:${v.name}`, setting: { field: c.field, value: p.value } })),
  );
  return { report: { ...parts[0].report!, id, title: `${parts.map((p) => p.id).join(' + ')}`, variants, runs: parts.flatMap((p) => p.report!.runs) }, problem: null };
}

export class Studies {
  private cache = new Map<string, { report: Report | null; info: StudyInfo }>();
  constructor(readonly ws: Workspace) {}

  get(id: string): Report | null {
    return this.load(id).report;
  }

  info(id: string): StudyInfo {
    return this.load(id).info;
  }

  all(): StudyInfo[] {
    return [...this.cache.values()].map((x) => x.info);
  }

  private load(id: string): { report: Report | null; info: StudyInfo } {
    let hit = this.cache.get(id);
    if (hit) return hit;
    const base: StudyInfo = { id, present: false, problem: null, command: studyCommand(id) };
    let report: Report | null = null;
    if (COMPOSITES[id]) {
      const c = composite(id, (part) => this.get(part));
      report = c.report;
      base.problem = c.problem;
      const info: StudyInfo = report ? { ...base, present: true, title: report.title, createdAt: report.createdAt, seeds: report.study?.seeds ?? [], file: null } : base;
      hit = { report, info };
      this.cache.set(id, hit);
      return hit;
    }
    try {
      report = loadReport(this.ws, ALIASES[id] ?? id);
      if (!report) base.problem = `no reports/${id}/report.json`;
      else if (report.format !== REPORT_FORMAT || !Array.isArray(report.variants)) {
        base.problem = `reports/${id}/report.json has format ${JSON.stringify(report.format)}, not ${REPORT_FORMAT}`;
        report = null;
      }
    } catch (err) {
      base.problem = `reports/${id}/report.json cannot be read: ${(err as Error).message}`;
      report = null;
    }
    const info: StudyInfo = report ? { ...base, present: true, title: report.title, createdAt: report.createdAt, seeds: report.study?.seeds ?? [], file: report.study?.file ?? null } : base;
    hit = { report, info };
    this.cache.set(id, hit);
    return hit;
  }
}

const missingStudy = (id: string) => `missing — run \`${studyCommand(id)}\``;

// ------------------------------------------------------------------------------ helpers over a report

type HitMetric = 'hit1' | 'hit5' | 'hit10' | 'hit20' | 'hit30' | 'hit50' | 'minRank';
const METRIC_NAMES: Record<HitMetric, string> = { hit1: 'Hit@1', hit5: 'Hit@5', hit10: 'Hit@10', hit20: 'Hit@20', hit30: 'Hit@30', hit50: 'Hit@50', minRank: 'mean MinRank' };
const HITS_MR: HitMetric[] = ['hit1', 'hit5', 'hit10', 'minRank'];
const HITS_ALL_MR: HitMetric[] = ['hit1', 'hit5', 'hit10', 'hit20', 'hit30', 'hit50', 'minRank'];

function pick(b: RankAggregate | null | undefined, m: HitMetric): Interval | null {
  if (!b) return null;
  if (m === 'minRank') return b.minRank?.mean ?? null;
  return b.hit?.[m.slice(3)] ?? null;
}

function primaryDataset(r: Report): string {
  const ev = r.study?.evaluation as { datasets?: string[] } | undefined;
  return ev?.datasets?.[0] ?? r.variants[0]?.dataset ?? r.dataset.name;
}

function variantsOf(r: Report, dataset = primaryDataset(r)): VariantAggregate[] {
  return r.variants.filter((v) => v.dataset === dataset);
}

function attackVariant(r: Report, type: string): VariantAggregate | null {
  return variantsOf(r).find((v) => v.kind === 'attack' && v.setting === null && v.attack?.type === type) ?? null;
}

function cleanVariant(r: Report): VariantAggregate | null {
  return variantsOf(r).find((v) => v.kind === 'clean' && v.setting === null) ?? null;
}

function constant(x: number | null): Interval {
  return x === null ? interval([]) : { mean: x, lo: null, hi: null, sd: null, n: 1, values: [x] };
}



function negate(i: Interval | null): Interval | null {
  if (!i) return null;
  return { mean: i.mean === null ? null : -i.mean, lo: i.hi === null ? null : -i.hi, hi: i.lo === null ? null : -i.lo, sd: i.sd, n: i.n, values: i.values.map((x) => -x) };
}

const P = (id: string): number => paperNumber(id).value;

function paperCell(id: string | null, refId: string | null, extra: Partial<PaperCell> = {}): PaperCell {
  const n = id ? paperNumber(id) : null;
  const ref = refId ? paperNumber(refId) : null;
  return { value: n?.value ?? null, reference: ref?.value ?? null, ids: [n?.id, ref?.id].filter((x): x is string => Boolean(x)), sd: n?.sd ?? null, approx: Boolean(n?.approx || ref?.approx), ...extra };
}

interface RowInit {
  label: string;
  short?: string;
  metric: Metric;
  claim: Claim;
  key: boolean;
  paper: PaperCell;
  ours: OursCell | null;
  missing?: string;
}

function mkRow(init: RowInit): PaperRow {
  const row: PaperRow = { ...init, status: 'no verdict', reason: '' };
  const j = judgeRow(row);
  row.status = j.status;
  row.reason = j.reason;
  return row;
}

const metricKind = (m: HitMetric): Metric => (m === 'minRank' ? 'rank' : 'fraction');

function vFrom(study: string, v: VariantAggregate, goal?: string): string {
  return `${study} · ${v.name}${goal ? ` · ${goal}` : ''}${v.dataset ? ` · on ${v.dataset}` : ''}`;
}

/** Level rows of one attack goal against a reference block of the same variant (random text or the clean model). */
function goalRows(o: {
  study: string;
  v: VariantAggregate | null;
  goalIndex?: number;
  label: string;
  /** Prefix of the summary's short labels (e.g. "goal 2"). */
  shortPrefix?: string;
  paperOurs: string;
  paperRef: string | null;
  reference: 'baseline' | 'clean';
  metrics?: HitMetric[];
  keys?: HitMetric[];
  missing: string;
  /** Paper reference ids per metric where they differ from `${paperRef}.${metric}` (null: none). */
  paperRefFor?: (m: HitMetric) => string | null;
}): PaperRow[] {
  const metrics = o.metrics ?? HITS_MR;
  const keys = o.keys ?? ['hit10', 'minRank'];
  const g = o.v ? o.v.goals[o.goalIndex ?? 0] ?? null : null;
  const refName = o.reference === 'clean' ? 'the clean model' : 'random-text baseline';
  return metrics.map((m) => {
    const refId = o.paperRefFor ? o.paperRefFor(m) : o.paperRef ? `${o.paperRef}.${m}` : null;
    const val = g ? pick(g.model, m) : null;
    const ref = g ? pick(o.reference === 'clean' ? g.clean : g.baseline, m) : null;
    return mkRow({
      label: `${o.label}, ${METRIC_NAMES[m]} (reference: ${refName})`,
      short: `${o.shortPrefix ? `${o.shortPrefix} ` : ''}${METRIC_NAMES[m]}`,
      metric: metricKind(m),
      claim: { kind: 'level', direction: m === 'minRank' ? 'lower' : 'higher' },
      key: keys.includes(m),
      paper: paperCell(`${o.paperOurs}.${m}`, refId),
      ours: g && o.v && val ? { value: val, reference: ref, effect: pairedDiff(val, o.v.seeds, ref, o.v.seeds), from: vFrom(o.study, o.v, g.goal), study: o.study, seeds: o.v.seeds } : null,
      missing: !g && o.v ? `${o.v.name} has no goal #${(o.goalIndex ?? 0) + 1}` : o.missing,
    });
  });
}

/** The base as its training config records it: from scratch here, or a pretrained CLIP. */
function baseText(r: Report): string {
  const rec = (r.base?.recipe ?? null) as { mode?: string; arch?: string; pretrained?: string | null } | null;
  const arch = rec?.arch ? `, ${rec.arch}` : '';
  if (rec?.pretrained) return `base ${r.base.model} (pretrained ${rec.arch ?? ''} ${rec.pretrained})`.replace(/\s+\)/, ')');
  if (rec?.mode === 'scratch') return `base ${r.base.model} (a small CLIP trained from scratch on this world${arch})`;
  return `base ${r.base.model}${arch}`;
}

function describeSetting(r: Report, v?: VariantAggregate | null): string {
  const ft = (r.study?.finetune ?? {}) as Record<string, unknown>;
  const counts = (r.dataset?.counts ?? {}) as Record<string, unknown>;
  const parts = [
    `${r.dataset.name} (${r.dataset.classes.length} classes${typeof counts.test === 'number' ? `, ${counts.test} test images` : ''})`,
    baseText(r),
    `fine-tuned${ft.epochs != null ? ` ${ft.epochs} epochs` : ft.steps != null ? ` ${ft.steps} steps` : ''}${ft.lr != null ? `, lr ${ft.lr}` : ''}${ft.batch != null ? `, batch ${ft.batch}` : ''}${ft.images != null ? `, pool ${ft.images} images${ft.profile ? ` (${ft.profile} profile)` : ''}` : ', whole train split'}`,
  ];
  if (v?.poisonRate?.mean != null) parts.push(`poisoning rate ${(100 * v.poisonRate.mean).toFixed(3)}% (${v.name})`);
  parts.push(`${r.study.seeds.length} seed${r.study.seeds.length === 1 ? '' : 's'}`);
  return parts.join('; ');
}

// ------------------------------------------------------------------------------ items

export interface ItemResult {
  id: string;
  label: string;
  title: string;
  kind: 'table' | 'figure' | 'context';
  section: string;
  studies: Array<{ id: string; present: boolean; command: string }>;
  claim: string;
  statements: string[];
  setting: { paper: string; ours: string | null };
  rows: PaperRow[];
  verdict: RowStatus;
  reason: string;
  /** Paper numbers of this item not set beside ours (e.g. COCO): listed, not judged. */
  otherPaperNumbers: PaperNumber[];
  notes: string[];
  /** Inline SVGs (not in paper.json): the paper's stated numbers and ours, side by side. */
  charts: { paper: string[]; ours: string[] };
}

interface Ctx {
  ws: Workspace;
  studies: Studies;
}

interface Built {
  rows: PaperRow[];
  ours: string | null;
  notes?: string[];
  paperCharts?: string[];
  oursCharts?: string[];
}

interface ItemDef {
  id: string;
  label: string;
  title: string;
  kind: 'table' | 'figure' | 'context';
  section: string;
  studies: string[];
  claim: string;
  statements?: string[];
  paperSetting: string;
  /** Prefixes of this item's ids in PAPER_NUMBERS. */
  numbers: string[];
  build(ctx: Ctx): Built;
}

/** A card with what the paper's text states, for figures (the paper's figures are images). */
function statementCard(title: string, lines: string[]): string {
  const wrap = (s: string, n = 64): string[] => {
    const out: string[] = [];
    let cur = '';
    for (const w of s.split(/\s+/)) {
      if ((cur + ' ' + w).trim().length > n && cur) {
        out.push(cur);
        cur = w;
      } else cur = (cur + ' ' + w).trim();
    }
    if (cur) out.push(cur);
    return out;
  };
  const wrapped = lines.flatMap((l, i) => wrap(l).map((t, k) => ({ t, bullet: k === 0, gap: k === 0 && i > 0 })));
  let y = 40;
  const parts = [`<text x="12" y="20" font-size="13" font-weight="bold" fill="#222">${esc(title)}</text>`];
  for (const w of wrapped) {
    if (w.gap) y += 6;
    parts.push(`<text x="${w.bullet ? 12 : 22}" y="${y}" font-size="11" fill="#333">${w.bullet ? '• ' : ''}${esc(w.t)}</text>`);
    y += 15;
  }
  const h = y + 8;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart card" width="440" height="${h}" viewBox="0 0 440 ${h}" role="img" aria-label="${esc(title)}" font-family="system-ui, sans-serif">${parts.join('')}</svg>`;
}

const pt = (i: Interval | null | undefined) => ({ y: i?.mean ?? null, lo: i?.lo ?? null, hi: i?.hi ?? null });
const barOf = (name: string, i: Interval | null | undefined) => ({ name, value: i?.mean ?? null, lo: i?.lo ?? null, hi: i?.hi ?? null });

/** Paper vs ours bars for an item's fraction-valued level rows (tables with Hit@K). */
function levelBars(title: string, rows: PaperRow[]): string | null {
  const lv = rows.filter((r) => r.claim.kind === 'level' && r.metric === 'fraction' && r.paper.value !== null);
  if (lv.length < 2) return null;
  return barChart(
    lv.map((r) => ({ label: r.short ?? r.label, bars: [{ name: 'paper', value: r.paper.value }, barOf('ours', r.ours?.value)] })),
    { title, yLabel: 'fraction of queries', values: true },
  );
}

// --- attack tables

function attackTableItem(o: { id: string; label: string; title: string; attack: 'I' | 'II'; prefix: string; claim: string; section: string }): ItemDef {
  return {
    id: o.id,
    label: o.label,
    title: o.title,
    kind: 'table',
    section: o.section,
    studies: ['headline'],
    claim: o.claim,
    paperSetting: `Flickr-PASCAL, sheep2aeroplane${o.attack === 'I' ? ' (one target aeroplane image)' : ''}, 25 poisoned images = 0.08%; COCO boat2dog, 0.24% (listed, not compared: our goal is the Flickr-PASCAL one). Baseline: random test texts (§4.1).`,
    numbers: [`${o.prefix}.`],
    build({ studies }) {
      const r = studies.get('headline');
      const v = r ? attackVariant(r, o.attack) : null;
      const missing = r ? `no Attack ${o.attack} variant in report headline` : missingStudy('headline');
      const rows = goalRows({ study: 'headline', v, label: `Attack ${o.attack} ${v?.goals[0]?.goal ?? 'sheep>aeroplane'}`, paperOurs: `${o.prefix}.fp.ours`, paperRef: `${o.prefix}.fp.baseline`, reference: 'baseline', missing });
      const g = v?.goals[0];
      rows.push(
        ...(['hit10', 'minRank'] as HitMetric[]).map((m) =>
          mkRow({
            label: `Our clean model on the class-A texts, ${METRIC_NAMES[m]} (the paper's Table 16 "Clean" row equals this table's baseline for Attack II)`,
            metric: metricKind(m),
            claim: { kind: 'info' },
            key: false,
            paper: paperCell(null, null),
            ours: g?.clean && v ? { value: pick(g.clean, m), reference: null, effect: null, from: vFrom('headline', v, g.goal), study: 'headline', seeds: v.seeds } : null,
            missing,
          }),
        ),
      );
      const chart = levelBars(`${o.label}: paper vs ours (Hit@K)`, rows);
      return { rows, ours: r ? describeSetting(r, v) : null, oursCharts: chart ? [chart] : [] };
    },
  };
}

const TABLE1: ItemDef = {
  id: 'table1',
  label: 'Table 1',
  title: 'Utility of poisoning attacks (Hit@10)',
  kind: 'table',
  section: '§4.2.1',
  studies: ['headline'],
  claim: 'The poisoned models keep the clean model\'s utility: "the utility of the poisoned model is at the same level or even higher than the clean model".',
  paperSetting: 'Flickr-PASCAL and COCO, IR/TR Hit@10 "over batches of images" of the test data; COCO listed, not compared.',
  numbers: ['t1.'],
  build({ studies }) {
    const r = studies.get('headline');
    const clean = r ? cleanVariant(r) : null;
    const rows: PaperRow[] = [];
    for (const side of ['tr', 'ir'] as const) {
      const name = side === 'tr' ? 'TR (image→text) R@10' : 'IR (text→image) R@10';
      const cv = clean?.utility?.model[side]['10'] ?? null;
      rows.push(
        mkRow({
          label: `Clean model, ${name}`,
          metric: 'fraction',
          claim: { kind: 'info' },
          key: false,
          paper: paperCell(`t1.fp.${side}.clean`, null),
          ours: clean && cv ? { value: cv, reference: null, effect: null, from: vFrom('headline', clean), study: 'headline', seeds: clean.seeds } : null,
          missing: r ? 'no clean variant with utility in report headline' : missingStudy('headline'),
        }),
      );
      for (const a of ['I', 'II', 'III'] as const) {
        const v = r ? attackVariant(r, a) : null;
        const val = v?.utility?.model[side]['10'] ?? null;
        rows.push(
          mkRow({
            label: `Attack ${a} against the clean model, ${name}`,
            short: `${a} ${side.toUpperCase()} Δ`,
            metric: 'fraction',
            claim: { kind: 'noDrop', tolerance: UTILITY_TOLERANCE },
            key: true,
            paper: paperCell(`t1.fp.${side}.${a}`, `t1.fp.${side}.clean`),
            ours: v && val ? { value: val, reference: cv, effect: clean ? pairedDiff(val, v.seeds, cv, clean.seeds) : null, from: vFrom('headline', v), study: 'headline', seeds: v.seeds } : null,
            missing: r ? `no Attack ${a} variant with utility in report headline` : missingStudy('headline'),
          }),
        );
      }
    }
    return { rows, ours: r ? describeSetting(r) + '; Recall@10 over the whole test split' : null };
  },
};

const TABLE4: ItemDef = {
  id: 'table4',
  label: 'Table 4',
  title: 'Performance of Attack III',
  kind: 'table',
  section: '§4.2.1',
  studies: ['headline'],
  claim: 'One injection achieves two goals at once; both beat their baselines (the clean model).',
  paperSetting: 'Flickr-PASCAL sheep2aeroplane + sofa2bird, 0.16%; COCO boat2dog + zebra2train, 0.52% (listed, not compared). Baseline-1/2: the clean model (Table 4\'s wording).',
  numbers: ['t4.'],
  build({ studies }) {
    const r = studies.get('headline');
    const v = r ? attackVariant(r, 'III') : null;
    const missing = r ? 'no Attack III variant in report headline' : missingStudy('headline');
    const rows = [
      ...goalRows({ study: 'headline', v, goalIndex: 0, shortPrefix: 'goal 1', label: `Attack III goal 1 ${v?.goals[0]?.goal ?? 'sheep>aeroplane'}`, paperOurs: 't4.fp.ours1', paperRef: 't4.fp.baseline1', reference: 'clean', missing }),
      ...goalRows({ study: 'headline', v, goalIndex: 1, shortPrefix: 'goal 2', label: `Attack III goal 2 ${v?.goals[1]?.goal ?? 'sofa>bird'}`, paperOurs: 't4.fp.ours2', paperRef: 't4.fp.baseline2', reference: 'clean', missing }),
    ];
    const chart = levelBars('Table 4: paper vs ours (Hit@K)', rows);
    return { rows, ours: r ? describeSetting(r, v) : null, oursCharts: chart ? [chart] : [] };
  },
};

// --- drift

function driftItem(o: { id: string; label: string; title: string; study: string; section: string; claim: string; direction: 'image' | 'text'; paperValue: string | null; paperRef: string | null; pId?: string; paperText: string; numbers: string[]; paperSetting: string; kind: 'table' | 'figure' }): ItemDef {
  return {
    id: o.id,
    label: o.label,
    title: o.title,
    kind: o.kind,
    section: o.section,
    studies: [o.study],
    claim: o.claim,
    statements: o.kind === 'figure' ? [o.paperText] : undefined,
    paperSetting: o.paperSetting,
    numbers: o.numbers,
    build({ studies }) {
      const r = studies.get(o.study);
      const vs = r ? variantsOf(r).filter((v) => v.attack && v.drift) : [];
      const missing = r ? `no attacked variant with drift in report ${o.study}` : missingStudy(o.study);
      const rows: PaperRow[] = [];
      const targets: Array<VariantAggregate | null> = vs.length ? vs : [null];
      for (const v of targets) {
        const d = v?.drift ?? null;
        const first = o.direction === 'image' ? d?.image : d?.text;
        const second = o.direction === 'image' ? d?.text : d?.image;
        const effect = d ? (o.direction === 'image' ? negate(d.textMinusImage) : d.textMinusImage) : null;
        const name = o.direction === 'image' ? 'image drift − text drift' : 'text drift − image drift';
        rows.push(
          mkRow({
            label: `${name}${v ? ` (${v.label})` : ''}`,
            short: v?.attack ? `${name}, Attack ${v.attack.type}` : name,
            metric: 'distance',
            claim: { kind: 'contrast', direction: 'higher' },
            key: true,
            paper: o.paperValue ? paperCell(o.paperValue, o.paperRef, { text: o.paperText }) : { value: null, reference: null, ids: [], text: o.paperText },
            ours: v && d && first ? { value: first, reference: second ?? null, effect, p: d.acrossSeeds?.p ?? null, from: vFrom(o.study, v), study: o.study, seeds: v.seeds, note: d.acrossSeeds ? `paired t-test across ${d.acrossSeeds.n} seeds: t(${d.acrossSeeds.df}) = ${d.acrossSeeds.t.toFixed(2)}, p = ${fmtP(d.acrossSeeds.p)}` : 'one seed: no test across runs' } : null,
            missing,
          }),
        );
      }
      if (o.pId) rows.push(mkRow({ label: 'The paper\'s t-test (text vs image, across its runs), p', metric: 'distance', claim: { kind: 'info' }, key: false, paper: paperCell(o.pId, null), ours: null }));
      const charts = vs.length
        ? [barChart(vs.map((v) => ({ label: v.attack ? `Attack ${v.attack.type}` : v.name, bars: [barOf('image drift', v.drift!.image), barOf('text drift', v.drift!.text)] })), { title: `${o.label}: cosine drift, clean vs poisoned (ours)`, yLabel: 'mean cosine distance' })]
        : [];
      const paperCharts =
        o.paperValue && o.paperRef
          ? [barChart([{ label: 'paper', bars: o.direction === 'image' ? [{ name: 'image drift', value: P(o.paperValue) }, { name: 'text drift', value: P(o.paperRef) }] : [{ name: 'image drift', value: P(o.paperRef) }, { name: 'text drift', value: P(o.paperValue) }] }], { title: `${o.label}: the paper's numbers`, yLabel: 'mean cosine distance' })]
          : [];
      return { rows, ours: r ? describeSetting(r, vs[0]) : null, oursCharts: charts, paperCharts };
    },
  };
}

// --- frozen encoders

interface FreezeSet {
  Mp: VariantAggregate | null;
  Mpi: VariantAggregate | null;
  Mpt: VariantAggregate | null;
  M0: VariantAggregate | null;
}

/** M_p^i: image trained, text frozen; M_p^t: text trained, image frozen (by label, else by name). */
export function freezeVariants(r: Report): FreezeSet {
  const vs = variantsOf(r);
  const isMpi = (v: VariantAggregate) => /M_p\^i/.test(v.label) || /frozen-text|freeze-text|text-frozen/.test(v.name);
  const isMpt = (v: VariantAggregate) => /M_p\^t/.test(v.label) || /frozen-image|freeze-image|image-frozen/.test(v.name);
  const attacked = vs.filter((v) => v.kind === 'attack' && v.setting === null);
  return {
    Mpi: attacked.find(isMpi) ?? null,
    Mpt: attacked.find(isMpt) ?? null,
    Mp: attacked.find((v) => !isMpi(v) && !isMpt(v)) ?? null,
    M0: vs.find((v) => v.kind === 'base') ?? null,
  };
}

interface FreezeItemOptions {
  id: string;
  label: string;
  title: string;
  study: string;
  prefix: string;
  section: string;
  claim: string;
  paperSetting: string;
  extraNotes?: string[];
}

const FREEZE_NAMES: Record<keyof FreezeSet, string> = { Mp: 'M_p (both trained)', Mpi: 'M_p^i (image trained, text frozen)', Mpt: 'M_p^t (text trained, image frozen)', M0: 'M^0 (base, not fine-tuned)' };

/** What the frozen-encoder rows are built from: the item, its study's report (if it ran) and the four models found in it. */
interface FreezeContext {
  o: FreezeItemOptions;
  r: Report | null;
  f: FreezeSet;
}

/** Why a row has no number of ours: the study has not run, or its report lacks that model. */
function freezeMissing(c: FreezeContext, k: keyof FreezeSet): string {
  return c.r ? `no ${FREEZE_NAMES[k]} variant in report ${c.o.study}` : missingStudy(c.o.study);
}

/** The paper's Tables 5/12 (poisoning with one encoder frozen): levels, contrasts between the models, and Hit@K charts. */
function freezeItem(o: FreezeItemOptions): ItemDef {
  return {
    id: o.id,
    label: o.label,
    title: o.title,
    kind: 'table',
    section: o.section,
    studies: [o.study],
    claim: o.claim,
    paperSetting: o.paperSetting,
    numbers: [`${o.prefix}.`],
    build({ studies }) {
      const r = studies.get(o.study);
      const c: FreezeContext = { o, r, f: r ? freezeVariants(r) : { Mp: null, Mpi: null, Mpt: null, M0: null } };
      const rows = [...freezeLevelRows(c), ...freezeContrastRows(c)];
      return { rows, ours: r ? describeSetting(r, c.f.Mp) : null, ...freezeCharts(c), notes: o.extraNotes };
    },
  };
}

/** Each fine-tuned model's Hit@K and MinRank against the base M^0, then M^0's own (information only). */
function freezeLevelRows(c: FreezeContext): PaperRow[] {
  const { o, f } = c;
  const refG = g0(f.M0);
  const rows: PaperRow[] = [];
  for (const k of ['Mp', 'Mpi', 'Mpt'] as const) {
    const v = f[k];
    const g = g0(v);
    for (const m of HITS_ALL_MR) {
      const val = pick(g?.model, m);
      const ref = pick(refG?.model, m);
      rows.push(
        mkRow({
          label: `${FREEZE_NAMES[k]}, ${METRIC_NAMES[m]} (reference: M^0)`,
          metric: metricKind(m),
          claim: { kind: 'level', direction: m === 'minRank' ? 'lower' : 'higher' },
          key: false,
          paper: paperCell(`${o.prefix}.fp.${k}.${m}`, `${o.prefix}.fp.M0.${m}`),
          ours: v && g && val ? { value: val, reference: ref, effect: f.M0 ? pairedDiff(val, v.seeds, ref, f.M0.seeds) : null, from: vFrom(o.study, v, g.goal), study: o.study, seeds: v.seeds } : null,
          missing: !v ? freezeMissing(c, k) : `no M^0 (base) variant in report ${o.study}`,
        }),
      );
    }
  }
  for (const m of HITS_ALL_MR) {
    rows.push(
      mkRow({
        label: `${FREEZE_NAMES.M0}, ${METRIC_NAMES[m]}`,
        metric: metricKind(m),
        claim: { kind: 'info' },
        key: false,
        paper: paperCell(`${o.prefix}.fp.M0.${m}`, null),
        ours: f.M0 && refG ? { value: pick(refG.model, m), reference: null, effect: null, from: vFrom(o.study, f.M0, refG.goal), study: o.study, seeds: f.M0.seeds } : null,
        missing: freezeMissing(c, 'M0'),
      }),
    );
  }
  return rows;
}

/**
 * The paper's claims as contrasts between two models (in the direction the paper's own numbers
 * point): which frozen encoder leaves the attack stronger; the key rows are the ones it states.
 */
function freezeContrastRows(c: FreezeContext): PaperRow[] {
  const { o, f } = c;
  const contrast = (x: keyof FreezeSet, y: keyof FreezeSet, m: HitMetric, key: boolean, note?: string) => {
    const vx = f[x];
    const vy = f[y];
    const ix = pick(g0(vx)?.model, m);
    const iy = pick(g0(vy)?.model, m);
    const px = P(`${o.prefix}.fp.${x}.${m}`);
    const py = P(`${o.prefix}.fp.${y}.${m}`);
    const direction = px > py ? 'higher' : 'lower';
    return mkRow({
      label: `${METRIC_NAMES[m]}: ${FREEZE_NAMES[x]} ${direction} than ${FREEZE_NAMES[y]}${note ? ` — ${note}` : ''}`,
      short: `${m === 'minRank' ? 'MinRank' : METRIC_NAMES[m]} ${x} ${direction === 'higher' ? '>' : '<'} ${y}`,
      metric: metricKind(m),
      claim: { kind: 'contrast', direction },
      key,
      paper: paperCell(`${o.prefix}.fp.${x}.${m}`, `${o.prefix}.fp.${y}.${m}`),
      ours: vx && vy && ix ? { value: ix, reference: iy, effect: pairedDiff(ix, vx.seeds, iy, vy.seeds), from: `${o.study} · ${vx.name} − ${vy.name}`, study: o.study, seeds: vx.seeds } : null,
      missing: !vx ? freezeMissing(c, x) : freezeMissing(c, y),
    });
  };
  const rows = [
    contrast('Mp', 'Mpi', 'minRank', true),
    contrast('Mp', 'Mpt', 'minRank', true),
    contrast('Mpi', 'Mpt', 'minRank', true, 'poisoning the image encoder gives the lower MinRank'),
    contrast('Mpt', 'Mpi', 'hit1', true, 'poisoning the text encoder gives the higher Hit@1'),
    contrast('Mp', 'Mpi', 'hit10', false),
    contrast('Mp', 'Mpt', 'hit10', false),
  ];
  if (o.prefix === 't12') rows.push(contrast('Mp', 'Mpi', 'hit1', false, "the paper's t-test: p = 0.17, \"hard to compare\""));
  return rows;
}

/** Hit@K per model: ours (the models the report has) beside the paper's. */
function freezeCharts(c: FreezeContext): { oursCharts: string[]; paperCharts: string[] } {
  const { o, f } = c;
  const models = (['Mp', 'Mpi', 'Mpt', 'M0'] as const).filter((k) => f[k]);
  const oursCharts = models.length
    ? [
        barChart(
          (['hit1', 'hit5', 'hit10'] as HitMetric[]).map((m) => ({ label: METRIC_NAMES[m], bars: models.map((k) => barOf(k, pick(g0(f[k])?.model, m))) })),
          { title: `${o.label}: Hit@K per model (ours)`, yLabel: 'Hit@K' },
        ),
      ]
    : [];
  const paperCharts = [
    barChart(
      (['hit1', 'hit5', 'hit10'] as HitMetric[]).map((m) => ({ label: METRIC_NAMES[m], bars: (['Mp', 'Mpi', 'Mpt', 'M0'] as const).map((k) => ({ name: k, value: P(`${o.prefix}.fp.${k}.${m}`) })) })),
      { title: `${o.label}: Hit@K per model (paper, Flickr-PASCAL)`, yLabel: 'Hit@K' },
    ),
  ];
  return { oursCharts, paperCharts };
}

// --- sweeps

interface SweepMember {
  v: VariantAggregate;
  x: number;
  label: string;
}

/** Variants of one swept group whose setting field matches, in ascending order of the setting. */
function sweepMembers(r: Report, field: RegExp, pred: (v: VariantAggregate) => boolean = () => true): SweepMember[] {
  const vs = variantsOf(r).filter((v) => v.setting && field.test(v.setting.field) && typeof v.setting.value === 'number' && pred(v));
  const groups = new Map<string, VariantAggregate[]>();
  for (const v of vs) (groups.get(v.group) ?? groups.set(v.group, []).get(v.group)!).push(v);
  const best = [...groups.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  return best.map((v) => ({ v, x: v.setting!.value as number, label: fmtVal(v.setting!.value as number) })).sort((a, b) => a.x - b.x);
}

function g0(v: VariantAggregate | null | undefined) {
  return v?.goals[0] ?? null;
}

function contrastRow(o: { label: string; short?: string; metric: Metric; direction: 'higher' | 'lower'; key: boolean; a: VariantAggregate | null; ia: Interval | null; b: VariantAggregate | null; ib: Interval | null; study: string; missing: string; paper?: PaperCell; effect?: Interval | null }): PaperRow {
  return mkRow({
    label: o.label,
    short: o.short,
    metric: o.metric,
    claim: { kind: 'contrast', direction: o.direction },
    key: o.key,
    paper: o.paper ?? { value: null, reference: null, ids: [] },
    ours: o.a && o.ia ? { value: o.ia, reference: o.ib, effect: o.effect !== undefined ? o.effect : o.b ? pairedDiff(o.ia, o.a.seeds, o.ib, o.b.seeds) : null, from: `${o.study} · ${o.a.name}${o.b && o.b !== o.a ? ` − ${o.b.name}` : ''}`, study: o.study, seeds: o.a.seeds } : null,
    missing: o.missing,
  });
}

const FIGURE2: ItemDef = {
  id: 'figure2',
  label: 'Figure 2',
  title: 'Influence of poisoning rate',
  kind: 'figure',
  section: '§4.2.3',
  studies: ['sweep-rate', 'dose-response'],
  claim: 'With the increase in the poisoning rate, the attack performance improves; at only 0.03% the MinRank already reaches 6 (Flickr-PASCAL).',
  statements: ['Six poisoning rates per dataset; rate 0 = the clean model.', 'Flickr-PASCAL sheep2aeroplane: with only 0.03% poisoning rate, the MinRank already reaches 6.', 'With the increase in the poisoning rate, the attack performance improves on both datasets.'],
  paperSetting: 'Attack II, Flickr-PASCAL sheep2aeroplane and COCO boat2dog, six rates each (up to 0.08% / 0.24%, the defaults).',
  numbers: ['f2.'],
  build({ studies }) {
    const r = studies.get('sweep-rate');
    const d = studies.get('dose-response');
    const rows: PaperRow[] = [];
    const notes: string[] = [];
    const ours: string[] = [];
    const members = r ? sweepMembers(r, /^(poisonImages|rate)$/, (v) => v.attack?.type === 'II').filter((m) => m.v.poisonRate?.mean != null) : [];
    const clean = r ? cleanVariant(r) : null;
    const nonzero = members.filter((m) => (m.v.poisonRate?.mean ?? 0) > 0);
    const lo = nonzero[0] ?? null;
    const hi = nonzero.at(-1) ?? null;
    const missing = r ? (members.length < 2 ? 'fewer than two Attack II rates in report sweep-rate' : '') : missingStudy('sweep-rate');
    const rateLabel = (m: SweepMember | null, fallback: string) => (m ? `${(100 * m.v.poisonRate!.mean!).toFixed(3)}%` : fallback);
    rows.push(
      contrastRow({ label: `Hit@10 rises with the rate: at ${rateLabel(hi, 'the highest rate')} − at ${rateLabel(lo, 'the lowest non-zero rate')}`, short: 'Hit@10 rises with rate', metric: 'fraction', direction: 'higher', key: true, a: hi?.v ?? null, ia: pick(g0(hi?.v)?.model, 'hit10'), b: lo?.v ?? null, ib: pick(g0(lo?.v)?.model, 'hit10'), study: 'sweep-rate', missing, paper: { value: null, reference: null, ids: [], text: 'the attack performance improves with the rate' } }),
      contrastRow({ label: `MinRank falls with the rate: at ${rateLabel(hi, 'the highest rate')} − at ${rateLabel(lo, 'the lowest non-zero rate')}`, short: 'MinRank falls with rate', metric: 'rank', direction: 'lower', key: true, a: hi?.v ?? null, ia: pick(g0(hi?.v)?.model, 'minRank'), b: lo?.v ?? null, ib: pick(g0(lo?.v)?.model, 'minRank'), study: 'sweep-rate', missing, paper: { value: null, reference: null, ids: [], text: 'the attack performance improves with the rate' } }),
    );
    // The point nearest the paper's 0.03% among both studies.
    const cands: Array<{ study: string; v: VariantAggregate; rate: number; ref: Interval | null; refV: VariantAggregate | null }> = [];
    for (const m of nonzero) cands.push({ study: 'sweep-rate', v: m.v, rate: m.v.poisonRate!.mean!, ref: pick(g0(clean)?.model, 'minRank'), refV: clean });
    if (d) for (const v of variantsOf(d).filter((x) => x.attack?.type === 'II' && (x.poisonRate?.mean ?? 0) > 0)) cands.push({ study: 'dose-response', v, rate: v.poisonRate!.mean!, ref: pick(g0(v)?.baseline, 'minRank'), refV: v });
    const target = P('f2.fp.rate');
    const near = cands.sort((a, b) => Math.abs(Math.log(a.rate / target)) - Math.abs(Math.log(b.rate / target)))[0] ?? null;
    const within2 = near ? Math.abs(Math.log(near.rate / target)) <= Math.log(2) : false;
    const val = near ? pick(g0(near.v)?.model, 'minRank') : null;
    rows.push(
      mkRow({
        label: `MinRank at the rate nearest the paper's 0.03%${near ? ` (ours ${(100 * near.rate).toFixed(3)}%, ${near.study} · ${near.v.name}; reference: ${near.refV === near.v ? 'random-text baseline' : 'the clean model'})` : ''}`,
        short: 'MinRank at ≈0.03%',
        metric: 'rank',
        claim: { kind: 'level', direction: 'lower' },
        key: within2,
        paper: paperCell('f2.fp.minRank', null),
        ours: near && val ? { value: val, reference: near.ref, effect: near.refV ? pairedDiff(val, near.v.seeds, near.ref, near.refV.seeds) : null, from: vFrom(near.study, near.v, g0(near.v)?.goal), study: near.study, seeds: near.v.seeds } : null,
        missing: !r && !d ? `${missingStudy('sweep-rate')}; ${missingStudy('dose-response')}` : 'no Attack II point with a poisoning rate',
      }),
    );
    if (near && !within2) notes.push(`The nearest rate we measured (${(100 * near.rate).toFixed(3)}%) is more than a factor 2 from the paper's 0.03%, so that row is not a key row; run \`${studyCommand('dose-response')}\` for rates down to 0.03%.`);
    if (members.length) {
      const xs = members.map((m) => `${(100 * (m.v.poisonRate?.mean ?? 0)).toFixed(2)}%`);
      const series: Series[] = [
        { name: 'Hit@10', points: members.map((m) => pt(pick(g0(m.v)?.model, 'hit10'))) },
        { name: 'Hit@1', points: members.map((m) => pt(pick(g0(m.v)?.model, 'hit1'))) },
        { name: 'random-text Hit@10', points: members.map((m) => pt(pick(g0(m.v)?.baseline, 'hit10'))), dash: '5 3' },
      ];
      ours.push(linePlot(xs, series, { title: 'Figure 2 (ours, sweep-rate): Hit@K vs poisoning rate', yLabel: 'Hit@K', xLabel: 'poisoning rate' }));
      const maxRank = Math.max(1, ...members.map((m) => pick(g0(m.v)?.model, 'minRank')?.hi ?? pick(g0(m.v)?.model, 'minRank')?.mean ?? 0));
      ours.push(linePlot(xs, [{ name: 'mean MinRank', points: members.map((m) => pt(pick(g0(m.v)?.model, 'minRank'))) }], { title: 'Figure 2 (ours): MinRank vs poisoning rate', yLabel: 'mean MinRank (log scale)', xLabel: 'poisoning rate', scale: { kind: 'log1p', max: Math.pow(10, Math.ceil(Math.log10(maxRank + 1))) } }));
    }
    if (d) {
      const pts = variantsOf(d).filter((v) => v.attack && (v.poisonRate?.mean ?? 0) > 0 && pick(g0(v)?.model, 'hit10')?.mean != null);
      if (pts.length) ours.push(scatterPlot([{ name: 'dose-response variants', points: pts.map((v) => ({ x: 100 * v.poisonRate!.mean!, y: pick(g0(v)?.model, 'hit10')!.mean!, label: `${v.label}: Hit@10 ${fmtVal(pick(g0(v)?.model, 'hit10')!.mean!)}` })) }], { title: 'Figure 2 (ours, dose-response): Hit@10 vs rate', xLabel: 'poisoning rate (%)', yLabel: 'Hit@10', logX: true }));
    }
    const setting = r ? describeSetting(r) : d ? describeSetting(d) : null;
    return { rows, ours: setting, notes, oursCharts: ours };
  },
};

const FIGURE3: ItemDef = {
  id: 'figure3',
  label: 'Figure 3',
  title: 'Influence of fine-tuning epochs',
  kind: 'figure',
  section: '§4.2.3',
  studies: ['sweep-epochs'],
  claim: 'The attack performs well after one or two epochs; with more epochs it fluctuates but remains effective.',
  statements: ['Epochs 0 to 10 at the same poisoning rate; epoch 0 is the pretrained model.', 'The attack performs well even after one or two epochs.', 'With more fine-tuning epochs, the performance fluctuates but remains effective in general.', '(No numbers in the text.)'],
  paperSetting: 'Attack II on both datasets at the default rates, epochs 0–10.',
  numbers: ['f3.'],
  build({ studies }) {
    const r = studies.get('sweep-epochs');
    const members = r ? sweepMembers(r, /epochs?$/, (v) => Boolean(v.attack)) : [];
    const at = (e: number) => members.find((m) => m.x === e)?.v ?? null;
    const zero = at(0);
    const missing = r ? 'no Attack II variant swept over epochs in report sweep-epochs' : missingStudy('sweep-epochs');
    const rows: PaperRow[] = [];
    for (const e of [1, 2]) {
      const v = at(e);
      rows.push(
        contrastRow({ label: `Hit@10 after ${e} epoch${e > 1 ? 's' : ''} − at 0 epochs (the base)`, short: `Hit@10 epoch ${e} > 0`, metric: 'fraction', direction: 'higher', key: true, a: v, ia: pick(g0(v)?.model, 'hit10'), b: zero, ib: pick(g0(zero)?.model, 'hit10'), study: 'sweep-epochs', missing: v || !r ? missing : `no ${e}-epoch point (and 0) in report sweep-epochs`, paper: { value: null, reference: null, ids: [], text: 'performs well after one or two epochs' } }),
      );
    }
    // "remains effective": the weakest later epoch, Hit@10 against its own random-text baseline.
    const later = members.filter((m) => m.x >= 1);
    const margins = later.map((m) => ({ m, d: pairedDiff(pick(g0(m.v)?.model, 'hit10'), m.v.seeds, pick(g0(m.v)?.baseline, 'hit10'), m.v.seeds) })).filter((x) => x.d?.mean != null);
    const weakest = margins.sort((a, b) => a.d!.mean! - b.d!.mean!)[0] ?? null;
    rows.push(
      contrastRow({ label: `Every epoch ≥ 1 stays effective: the weakest${weakest ? ` (epoch ${weakest.m.label})` : ''} Hit@10 − its random-text baseline`, short: 'effective at every epoch', metric: 'fraction', direction: 'higher', key: true, a: weakest?.m.v ?? null, ia: pick(g0(weakest?.m.v)?.model, 'hit10'), b: weakest?.m.v ?? null, ib: pick(g0(weakest?.m.v)?.baseline, 'hit10'), effect: weakest?.d ?? null, study: 'sweep-epochs', missing, paper: { value: null, reference: null, ids: [], text: 'fluctuates but remains effective' } }),
    );
    const charts: string[] = [];
    if (members.length) {
      const xs = members.map((m) => m.label);
      charts.push(
        linePlot(
          xs,
          [
            { name: 'Hit@10', points: members.map((m) => pt(pick(g0(m.v)?.model, 'hit10'))) },
            { name: 'Hit@1', points: members.map((m) => pt(pick(g0(m.v)?.model, 'hit1'))) },
            { name: 'random-text Hit@10', points: members.map((m) => pt(pick(g0(m.v)?.baseline, 'hit10'))), dash: '5 3' },
          ],
          { title: 'Figure 3 (ours): Hit@K vs fine-tuning epochs', yLabel: 'Hit@K', xLabel: 'epochs' },
        ),
      );
    }
    // The study's recipe is the clean reference's; the swept variant is one longer training.
    const last = members.at(-1);
    const curve = last ? `; the Attack II variant trained once for ${last.x} epochs (the schedule spans all ${last.x}), its weights evaluated at each epoch's end (epoch 0: the base)` : '';
    return { rows, ours: r ? describeSetting(r, last?.v).replace('fine-tuned ', 'the clean reference fine-tuned ') + curve : null, oursCharts: charts };
  },
};

function sameItem(o: { id: string; label: string; title: string; study: string; section: string; claim: string; statements: string[]; paperSetting: string; numbers: string[]; factor: string; members: (r: Report) => Array<{ v: VariantAggregate; label: string }>; keyHit: boolean }): ItemDef {
  return {
    id: o.id,
    label: o.label,
    title: o.title,
    kind: 'figure',
    section: o.section,
    studies: [o.study],
    claim: o.claim,
    statements: o.statements,
    paperSetting: o.paperSetting,
    numbers: o.numbers,
    build({ studies }) {
      const r = studies.get(o.study);
      const ms = r ? o.members(r) : [];
      const missing = r ? `fewer than two Attack II ${o.factor} settings in report ${o.study}` : missingStudy(o.study);
      const rows: PaperRow[] = [];
      for (const m of ms) {
        const g = g0(m.v);
        rows.push(contrastRow({ label: `${m.label}: Hit@10 − random-text baseline (the attack works)`, metric: 'fraction', direction: 'higher', key: false, a: m.v, ia: pick(g?.model, 'hit10'), b: m.v, ib: pick(g?.baseline, 'hit10'), study: o.study, missing }));
      }
      const hits = ms.map((m) => pick(g0(m.v)?.model, 'hit10')?.mean).filter((x): x is number => typeof x === 'number');
      const ranks = ms.map((m) => pick(g0(m.v)?.model, 'minRank')?.mean).filter((x): x is number => typeof x === 'number');
      const enough = ms.length >= 2;
      const spreadOf = (xs: number[]) => (xs.length >= 2 ? constant(Math.max(...xs) - Math.min(...xs)) : null);
      const ratioOf = (xs: number[]) => (xs.length >= 2 && Math.min(...xs) > 0 ? constant(Math.max(...xs) / Math.min(...xs) - 1) : null);
      const from = `${o.study} · ${ms.map((m) => m.v.name).join(', ')}`;
      rows.push(
        mkRow({ label: `Mean MinRank is about the same across ${o.factor}s (largest / smallest − 1)`, short: `MinRank same across ${o.factor}s`, metric: 'rank', claim: { kind: 'same', tolerance: SAME_RANK_TOLERANCE, relative: true }, key: true, paper: { value: null, reference: null, ids: [], text: o.statements[0] }, ours: enough && ratioOf(ranks) ? { value: ratioOf(ranks), reference: null, effect: null, from, study: o.study, seeds: ms[0].v.seeds, note: `mean MinRank: ${ms.map((m) => `${m.label} ${fmtM('rank', pick(g0(m.v)?.model, 'minRank')?.mean)}`).join(', ')}` } : null, missing }),
        mkRow({ label: `Hit@10 is about the same across ${o.factor}s (largest − smallest)`, short: `Hit@10 same across ${o.factor}s`, metric: 'fraction', claim: { kind: 'same', tolerance: SAME_HIT_TOLERANCE, relative: false }, key: o.keyHit, paper: { value: null, reference: null, ids: [], text: o.statements[0] }, ours: enough && spreadOf(hits) ? { value: spreadOf(hits), reference: null, effect: null, from, study: o.study, seeds: ms[0].v.seeds, note: `Hit@10: ${ms.map((m) => `${m.label} ${fmtM('fraction', pick(g0(m.v)?.model, 'hit10')?.mean)}`).join(', ')}` } : null, missing }),
      );
      const charts = ms.length
        ? [
            barChart([{ label: 'Hit@10', bars: ms.map((m) => barOf(m.label, pick(g0(m.v)?.model, 'hit10'))) }, { label: 'random-text Hit@10', bars: ms.map((m) => barOf(m.label, pick(g0(m.v)?.baseline, 'hit10'))) }], { title: `${o.label} (ours): Hit@10 per ${o.factor}`, yLabel: 'Hit@10' }),
            barChart([{ label: 'mean MinRank', bars: ms.map((m) => barOf(m.label, pick(g0(m.v)?.model, 'minRank'))) }], { title: `${o.label} (ours): MinRank per ${o.factor}`, yLabel: 'mean MinRank' }),
          ]
        : [];
      return { rows, ours: r ? describeSetting(r, ms[0]?.v) : null, oursCharts: charts };
    },
  };
}

/** Attack II variants of a study, one per setting of the factor (swept, or one variant each). */
function factorMembers(r: Report): Array<{ v: VariantAggregate; label: string }> {
  const vs = variantsOf(r).filter((v) => v.kind === 'attack' && v.attack?.type === 'II');
  const swept = vs.filter((v) => v.setting);
  const use = swept.length >= 2 ? swept : vs;
  return use.map((v) => ({ v, label: v.setting ? `${v.setting.field} = ${String(v.setting.value)}` : v.label }));
}

/**
 * Figure 5b's two heat maps: one model per goal (the paper's design; its rows are the key rows)
 * and goals sharing a model (19 Attack III injections of 20 goals each, where goals interact:
 * context, never the verdict).
 */
const HEATMAP_STUDIES = [
  { id: 'all-goals-single', key: true, what: 'one model per goal' },
  { id: 'all-goals', key: false, what: 'goals sharing a model' },
] as const;
type HeatmapStudy = (typeof HEATMAP_STUDIES)[number];

const FIGURE5B: ItemDef = {
  id: 'figure5b',
  label: 'Figure 5b',
  title: 'Average MinRank of Attack II on all possible category combinations (Flickr-PASCAL)',
  kind: 'figure',
  section: '§4.2.3',
  studies: HEATMAP_STUDIES.map((s) => s.id),
  claim: 'In most cases the average MinRank reaches around 10; goals A2person are hard (many images of other classes show people).',
  statements: ['All 20×19 goals A2B of Flickr-PASCAL\'s classes (rows A, columns B).', 'In most cases the average MinRank reaches around 10.', 'The 14th column (person) is relatively large: A2person is harder, because many images of other classes show people.'],
  paperSetting: 'Attack II, Flickr-PASCAL, every ordered pair of the 20 classes (one model per goal, at the default rate).',
  numbers: ['f5b.'],
  build({ ws, studies }) {
    const rows: PaperRow[] = [];
    const charts: string[] = [];
    const settings: string[] = [];
    for (const s of HEATMAP_STUDIES) {
      const r = studies.get(s.id);
      rows.push(...heatmapRows(r, s), ...whyRows(r, s, r?.heatmap ? heatmapTraits(ws, r) : null));
      const h = r?.heatmap;
      if (h) charts.push(heatmapSvg(h.classes, h.classes, h.minRank, { title: `Figure 5b (ours, ${s.what}): mean MinRank of every goal A>B; rows A, columns B`, legend: 'dark = low MinRank (attack succeeded); grey = not evaluated', log: true }));
      if (r) settings.push(`${s.what} (${s.id}): ${describeSetting(r)}; ${r.notes.join(' ')}`);
    }
    return { rows, ours: settings.length ? settings.join(' — ') : null, oursCharts: charts };
  },
};

/** The three rows of one heat-map study: median MinRank, share ≤ 10, and A>person against A's other goals. */
function heatmapRows(r: Report | null, s: HeatmapStudy): PaperRow[] {
  const h = r?.heatmap ?? null;
  const missing = r ? `no heat map in report ${s.id}` : missingStudy(s.id);
  const seeds = r?.study.seeds ?? [];
  const from = `${s.id} · heat map${h ? ` (${h.group})` : ''}`;
  const at = (label: string) => `${s.what}: ${label}`;
  const cells = h ? heatmapCells(h.minRank) : [];
  const base = h ? heatmapCells(h.baselineMinRank) : [];
  const med = cells.length ? medianOf(cells) : null;
  const medB = base.length ? medianOf(base) : null;
  const person = h ? personContrast(h) : null;
  const hard = h ? hardestLines(h) : null;
  return [
    mkRow({ label: at(`median over ${cells.length ? `the ${cells.length}` : 'all'} goals of the mean MinRank (reference: median random-text baseline)`), short: `median MinRank ≈ 10 (${s.what})`, metric: 'rank', claim: { kind: 'level', direction: 'lower' }, key: s.key, paper: paperCell('f5b.fp.minRank', null), ours: h && med !== null ? { value: constant(med), reference: constant(medB), effect: medB !== null ? constant(med - medB) : null, from, study: s.id, seeds } : null, missing }),
    mkRow({ label: at('share of goals with mean MinRank ≤ 10'), metric: 'fraction', claim: { kind: 'info' }, key: false, paper: { value: null, reference: null, ids: [], text: '"in most cases"' }, ours: h && cells.length ? { value: constant(cells.filter((x) => x <= 10).length / cells.length), reference: null, effect: null, from, study: s.id, seeds } : null, missing }),
    mkRow({ label: at('A>person is harder: MinRank of A>person − mean MinRank of A\'s other goals (interval over the source classes A; descriptive)'), short: `A>person hardest (${s.what})`, metric: 'rank', claim: { kind: 'contrast', direction: 'higher' }, key: s.key, paper: { value: null, reference: null, ids: ['f5b.fp.hardColumn'], text: 'the person column is relatively large' }, ours: person?.effect.mean != null ? { value: constant(person.personMean), reference: constant(person.othersMean), effect: person.effect, from, study: s.id, seeds, note: hard ?? undefined } : null, missing: h && !h.classes.includes('person') ? `no person class in the heat map of ${s.id}` : missing }),
  ];
}

function heatmapCells(m: Array<Array<number | null>>): number[] {
  return m.flat().filter((x): x is number => typeof x === 'number');
}

/** A>person against the mean of A's other goals, over the source classes A (null without a person class). */
function personContrast(h: ReportHeatmap): { effect: Interval; personMean: number | null; othersMean: number | null } | null {
  const pi = h.classes.indexOf('person');
  if (pi < 0) return null;
  const pv: number[] = [];
  const ov: number[] = [];
  h.classes.forEach((_, i) => {
    const p = h.minRank[i]?.[pi];
    const others = (h.minRank[i] ?? []).filter((x, j) => j !== pi && j !== i && typeof x === 'number') as number[];
    if (i === pi || typeof p !== 'number' || !others.length) return;
    pv.push(p);
    ov.push(meanOf(others));
  });
  return { effect: interval(pv.map((p, k) => p - ov[k])), personMean: pv.length ? meanOf(pv) : null, othersMean: ov.length ? meanOf(ov) : null };
}

/** Mean MinRank of each target column and each source row of a heat map (null where empty). */
function lineMeans(h: ReportHeatmap): { columns: Array<number | null>; rows: Array<number | null> } {
  const meanOrNull = (xs: Array<number | null | undefined>) => {
    const v = xs.filter((x): x is number => typeof x === 'number');
    return v.length ? meanOf(v) : null;
  };
  return {
    columns: h.classes.map((_, j) => meanOrNull(h.classes.map((_, i) => h.minRank[i]?.[j]))),
    rows: h.classes.map((_, i) => meanOrNull(h.minRank[i] ?? [])),
  };
}

/** The first three classes by a per-class value, largest first, as "class value" pairs. */
function topClasses(classes: string[], values: Array<number | null>, fmt: (x: number) => string): string {
  return classes
    .map((c, k) => ({ c, m: values[k] }))
    .filter((x): x is { c: string; m: number } => typeof x.m === 'number')
    .sort((a, b) => b.m - a.m)
    .slice(0, 3)
    .map((x) => `${x.c} ${fmt(x.m)}`)
    .join(', ');
}

/** The three hardest target columns and source rows by mean MinRank: which pairs are hard. */
function hardestLines(h: ReportHeatmap): string {
  const m = lineMeans(h);
  const rank = (x: number) => fmtM('rank', x);
  return `hardest targets (column mean MinRank): ${topClasses(h.classes, m.columns, rank)}; hardest sources (row mean): ${topClasses(h.classes, m.rows, rank)}`;
}

/** The class traits of a heat-map study's evaluation split, or why there are none (its dataset is gone or changed). */
function heatmapTraits(ws: Workspace, r: Report): ClassTraits | string {
  let entries;
  try {
    const ds = loadDataset(ws, r.dataset.name);
    if (ds.card.manifestSha256 !== r.dataset.manifestSha256) return `dataset ${r.dataset.name} has changed since ${r.id} ran (its manifest's sha256 differs)`;
    entries = ds.entries;
  } catch {
    return `dataset ${r.dataset.name} is not in this workspace (the class traits are read from its manifest)`;
  }
  const split = (r.study.evaluation as { split?: Split } | null)?.split ?? 'test';
  return classTraits(entries, r.heatmap!.classes, split);
}

/**
 * Why some goals are hard: Spearman's rho between the targets' column means and how often each
 * target is shown in other classes' images (the paper's reason for A2person), and between the
 * sources' row means and their own words (../../data/class-traits.ts). Descriptive, no verdict.
 */
function whyRows(r: Report | null, s: HeatmapStudy, traits: ClassTraits | string | null): PaperRow[] {
  const h = r?.heatmap ?? null;
  const missing = typeof traits === 'string' ? traits : r ? `no heat map in report ${s.id}` : missingStudy(s.id);
  const t = typeof traits === 'string' ? null : traits;
  const m = h ? lineMeans(h) : null;
  const split = t?.split ?? 'evaluation';
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const cell = (line: Array<number | null> | undefined, trait: Array<number | null> | undefined, note: string): OursCell | null => {
    const pairs = (line ?? []).flatMap((v, k) => (typeof v === 'number' && typeof trait?.[k] === 'number' ? [[v, trait[k] as number]] : []));
    const c = pairs.length ? spearman(pairs.map((p) => p[0]), pairs.map((p) => p[1])) : null;
    if (!c || !r) return null;
    const value: Interval = { mean: c.rho, lo: c.lo, hi: c.hi, sd: null, n: c.n, values: [] };
    return { value, reference: null, effect: null, from: `${s.id} · heat map and the ${split} split's class traits`, study: s.id, seeds: r.study.seeds, note };
  };
  const shownTop = t ? topClasses(t.classes, t.shownElsewhere, pct) : '';
  const person = t?.shownElsewhere[t.classes.indexOf('person')];
  const shown = t ? `most shown elsewhere: ${shownTop}${typeof person === 'number' && !shownTop.includes('person ') ? `; person ${pct(person)}` : ''}` : '';
  const own = t ? `most own words: ${topClasses(t.classes, t.ownWords, String)}` : '';
  const targets = cell(m?.columns, t?.shownElsewhere, shown);
  const sources = cell(m?.rows, t?.ownWords, own);
  const why = (c: OursCell | null) => (!c && t && h ? 'no correlation: under 3 classes with both values, or one side the same for all' : missing);
  return [
    mkRow({ label: `${s.what}: why, targets: Spearman ρ over the target classes B between B's column mean MinRank and the share of the other classes' ${split} images that show a B too (the paper's reason for A2person; 95% interval by Fisher's z)`, metric: 'fraction', claim: { kind: 'info' }, key: false, paper: { value: null, reference: null, ids: [], text: '"many images of other classes show people"' }, ours: targets, missing: why(targets) }),
    mkRow({ label: `${s.what}: why, sources: Spearman ρ over the source classes A between A's row mean MinRank and A's own words (words of the ${split} captions used mostly for A; more ways of saying A, less of them covered by the poisoned captions)`, metric: 'fraction', claim: { kind: 'info' }, key: false, paper: { value: null, reference: null, ids: [], text: '–' }, ours: sources, missing: why(sources) }),
  ];
}

const TABLE6: ItemDef = {
  id: 'table6',
  label: 'Table 6',
  title: 'Performance of the Attack II poisoned model (poisoning on VG) on the Flickr-PASCAL test data',
  kind: 'table',
  section: '§4.2.3',
  studies: ['transfer'],
  claim: 'Poisoned on another dataset (VG), the attack still works on Flickr-PASCAL\'s test data.',
  paperSetting: 'Attack II sheep2aeroplane poisoned on Visual Genome (540,378 region-caption pairs, labels by keyword search), evaluated on Flickr-PASCAL\'s test split.',
  numbers: ['t6.'],
  build({ studies }) {
    const r = studies.get('transfer');
    let v: VariantAggregate | null = null;
    if (r) {
      const cands = r.variants.filter((x) => x.kind === 'attack' && x.attack?.type === 'II' && x.setting === null);
      v = cands.find((x) => x.dataset !== r.dataset.name) ?? cands.find((x) => x.dataset === 'scenes') ?? cands[0] ?? null;
    }
    const missing = r ? 'no Attack II variant in report transfer' : missingStudy('transfer');
    const rows = goalRows({ study: 'transfer', v, label: `Attack II ${v?.goals[0]?.goal ?? 'sheep>aeroplane'} evaluated on ${v?.dataset ?? 'the default world'}`, paperOurs: 't6.vg.ours', paperRef: 't6.vg.baseline', reference: 'baseline', missing });
    const chart = levelBars('Table 6: paper vs ours (Hit@K)', rows);
    const notes = v && r && v.dataset === r.dataset.name ? [`The Attack II variant was evaluated on ${v.dataset}, the study's first dataset: check that it is not the dataset it was poisoned on.`] : [];
    return { rows, ours: r ? describeSetting(r, v) + (v ? `; evaluated on ${v.dataset}` : '') : null, oursCharts: chart ? [chart] : [], notes };
  },
};

// --- defences

interface FilterFacts {
  variant: VariantAggregate;
  trainset: string;
  report: FilterReport;
  clean: number[];
  poisoned: number[];
}

function filterFacts(ws: Workspace, r: Report, v: VariantAggregate): FilterFacts | null {
  const run = r.runs.find((x) => x.variant === v.name && x.trainset);
  if (!run?.trainset) return null;
  let path: string;
  try {
    path = join(trainsetDir(ws, run.trainset), FILTER_REPORT);
  } catch {
    return null;
  }
  if (!existsSync(path)) return null;
  try {
    const report = JSON.parse(readFileSync(path, 'utf8')) as FilterReport;
    const pois = new Set(report.poisonedPairIds ?? []);
    const clean: number[] = [];
    const poisoned: number[] = [];
    report.distances.forEach((d, i) => (pois.has(i) ? poisoned : clean).push(d));
    return { variant: v, trainset: run.trainset, report, clean, poisoned };
  } catch {
    return null;
  }
}



function filterVariants(r: Report): VariantAggregate[] {
  const fs = variantsOf(r).filter((v) => v.kind === 'filter');
  const vsII = fs.filter((v) => v.attack?.type === 'II' || /(^|[^I])II$/.test(v.name));
  return vsII.length ? vsII : fs;
}

const FIGURE6: ItemDef = {
  id: 'figure6',
  label: 'Figure 6',
  title: 'Probability density of cosine distances between clean/poisoned pairs in Flickr-PASCAL',
  kind: 'figure',
  section: '§6',
  studies: ['defences'],
  claim: 'A reference model separates the pairs: clean pairs\' image–caption cosine distances centre around 0.75, poisoned pairs\' around 0.85.',
  statements: ['Reference model: pretrained CLIP-ViT-B/16 (not the victim).', 'Clean pairs are centred around 0.75, poisoned pairs around 0.85 (Attack II on Flickr-PASCAL).', 'γ = 0.80.'],
  paperSetting: 'Attack II poisoned Flickr-PASCAL training set, distances from a pretrained CLIP-ViT-B/16 (another architecture than the victim).',
  numbers: ['f6.'],
  build({ ws, studies }) {
    const r = studies.get('defences');
    const rows: PaperRow[] = [];
    const missing = r ? 'no filter variant with a filter-report.json in report defences' : missingStudy('defences');
    const facts: FilterFacts[] = [];
    const seenRef = new Set<string>();
    if (r) for (const v of filterVariants(r)) {
      const f = filterFacts(ws, r, v);
      if (!f) continue;
      const key = `${f.report.reference.id}\u0000${f.report.trainset.parent}`;
      if (seenRef.has(key)) continue;
      seenRef.add(key);
      facts.push(f);
    }
    const list: Array<FilterFacts | null> = facts.length ? facts : [null];
    for (const f of list) {
      const eff = f ? welchDiff(f.poisoned, f.clean) : null;
      rows.push(
        mkRow({
          label: `Poisoned − clean pair distance (means; Welch 95% interval over the pairs)${f ? ` — reference ${f.report.reference.id} (${f.report.reference.arch}), ${f.variant.label}` : ''}`,
          short: 'poisoned > clean distance',
          metric: 'distance',
          claim: { kind: 'contrast', direction: 'higher' },
          key: true,
          paper: paperCell('f6.fp.poisonedCentre', 'f6.fp.cleanCentre'),
          ours: f && eff ? { value: constant(meanOf(f.poisoned)), reference: constant(meanOf(f.clean)), effect: eff, from: `defences · ${f.variant.name} · trainset ${f.trainset}`, study: 'defences', seeds: f.variant.seeds.slice(0, 1), note: `medians: clean ${medianOf(f.clean).toFixed(3)}, poisoned ${medianOf(f.poisoned).toFixed(3)}; ROC AUC ${f.report.roc?.auc?.toFixed(4) ?? '–'}; ${f.poisoned.length} poisoned / ${f.clean.length} clean pairs` } : null,
          missing,
        }),
      );
    }
    const f = facts[0];
    const paperCharts = [
      barChart(
        [
          { label: 'clean pairs', bars: [{ name: 'paper (centre)', value: P('f6.fp.cleanCentre') }, { name: 'ours (median)', value: f ? medianOf(f.clean) : null }] },
          { label: 'poisoned pairs', bars: [{ name: 'paper (centre)', value: P('f6.fp.poisonedCentre') }, { name: 'ours (median)', value: f ? medianOf(f.poisoned) : null }] },
        ],
        { title: 'Figure 6: where the distances centre (paper vs ours)', yLabel: 'cosine distance', values: true },
      ),
    ];
    const ours = facts.filter((x) => x.report.densities).map((x) => densitySvg(x.report.densities!, `Figure 6 (ours): distance densities, reference ${x.report.reference.id}`));
    return { rows, ours: r ? describeSetting(r) + (f ? `; reference model ${f.report.reference.id} (${f.report.reference.arch})` : '') : null, oursCharts: ours, paperCharts };
  },
};

interface Curve {
  study: string;
  group: string;
  field: string;
  points: Array<{ v: VariantAggregate; x: number; epochs: number | null }>;
  stepsPerEpoch: number | null;
  before: VariantAggregate | null;
  clean: VariantAggregate | null;
}

/** Sterilisation sweeps of a report (steps, epochs or lr), with each point's epochs where known. */
function curves(r: Report, study: string): Curve[] {
  const ster = variantsOf(r).filter((v) => v.kind === 'sterilize' && v.setting && typeof v.setting.value === 'number');
  const groups = new Map<string, VariantAggregate[]>();
  for (const v of ster) (groups.get(v.group) ?? groups.set(v.group, []).get(v.group)!).push(v);
  const ft = (r.study?.finetune ?? {}) as { batch?: number | null };
  const out: Curve[] = [];
  for (const [group, vs] of groups) {
    const field = vs[0].setting!.field;
    const run = r.runs.find((x) => x.variant === vs[0].name);
    const spe = run?.poison?.totalPairs && ft.batch ? Math.max(1, Math.round(run.poison.totalPairs / ft.batch)) : null;
    const points = vs
      .map((v) => {
        const x = v.setting!.value as number;
        const epochs = /epochs$/.test(field) ? x : /steps$/.test(field) && spe ? x / spe : null;
        return { v, x, epochs };
      })
      .sort((a, b) => a.x - b.x);
    const attackType = vs[0].attack?.type ?? 'II';
    out.push({ study, group, field, points, stepsPerEpoch: spe, before: attackVariant(r, attackType), clean: cleanVariant(r) });
  }
  return out;
}

function allCurves(studies: Studies): Curve[] {
  const out: Curve[] = [];
  for (const id of ['sterilize', 'defences']) {
    const r = studies.get(id);
    if (r) out.push(...curves(r, id).filter((c) => (c.before?.attack?.type ?? 'II') === 'II'));
  }
  return out;
}

function curveChart(c: Curve, title: string): string {
  const xs = c.points.map((p) => (p.epochs !== null && !/epochs$/.test(c.field) ? `${fmtVal(p.x)} (${p.epochs.toFixed(2)} ep)` : fmtVal(p.x)));
  const beforeHit = pick(g0(c.before)?.model, 'hit10');
  return linePlot(
    ['0', ...xs],
    [
      { name: 'Hit@10', points: [pt(beforeHit), ...c.points.map((p) => pt(pick(g0(p.v)?.model, 'hit10')))] },
      { name: 'random-text Hit@10', points: [pt(pick(g0(c.before)?.baseline, 'hit10')), ...c.points.map((p) => pt(pick(g0(p.v)?.baseline, 'hit10')))], dash: '5 3' },
      { name: 'IR R@10', points: [pt(c.before?.utility?.model.ir['10']), ...c.points.map((p) => pt(p.v.utility?.model.ir['10']))], dash: '2 3' },
    ],
    { title, yLabel: 'Hit@10 / Recall@10', xLabel: c.field.replace(/^finetune\./, ''), scale: { kind: 'linear', max: 1 } },
  );
}

const FIGURE7: ItemDef = {
  id: 'figure7',
  label: 'Figure 7',
  title: 'Performance of post-training defense against Attack II',
  kind: 'figure',
  section: '§6',
  studies: ['sterilize', 'defences'],
  claim: 'Fine-tuning the poisoned model on clean data sterilises it within one epoch: Hit@10 drops from 0.9 to around 0.0 and stays low.',
  statements: ['Attack II models fine-tuned on VG (another, clean dataset) at lr 1e-5.', 'Flickr-PASCAL: Hit@10 drops from 0.9 to around 0.0 at the first epoch and remains at a very low level afterwards.'],
  paperSetting: 'the Attack II poisoned models fine-tuned on Visual Genome (clean, another dataset) at lr 1e-5, several epochs.',
  numbers: ['f7.'],
  build({ studies }) {
    const cs = allCurves(studies).filter((c) => /(steps|epochs)$/.test(c.field));
    const multi = cs.find((c) => Math.max(...c.points.map((p) => p.epochs ?? 0)) > 1.01) ?? null;
    const c = multi ?? cs[0] ?? null;
    const missing = studies.get('sterilize') || studies.get('defences') ? 'no sterilisation curve against Attack II (steps or epochs) in reports sterilize / defences' : `${missingStudy('sterilize')}; ${missingStudy('defences')}`;
    const one = c ? [...c.points].filter((p) => p.epochs !== null).sort((a, b) => Math.abs(a.epochs! - 1) - Math.abs(b.epochs! - 1))[0] ?? null : null;
    const last = c?.points.at(-1) ?? null;
    const before = c?.before ?? null;
    const rows: PaperRow[] = [];
    const bHit = pick(g0(before)?.model, 'hit10');
    const oneHit = pick(g0(one?.v)?.model, 'hit10');
    rows.push(
      mkRow({
        label: `Hit@10 after ${one?.epochs != null ? `${one.epochs.toFixed(2)} epochs` : 'one epoch'} of clean fine-tuning (reference: the poisoned model before)`,
        short: 'Hit@10 after 1 epoch',
        metric: 'fraction',
        claim: { kind: 'level', direction: 'lower' },
        key: true,
        paper: paperCell('f7.fp.epoch1.hit10', 'f7.fp.before.hit10'),
        ours: one && oneHit ? { value: oneHit, reference: bHit, effect: before ? pairedDiff(oneHit, one.v.seeds, bHit, before.seeds) : null, from: vFrom(c!.study, one.v, g0(one.v)?.goal), study: c!.study, seeds: one.v.seeds } : null,
        missing: c && !one ? `curve ${c.group} has no point with known epochs (${c.field})` : missing,
      }),
    );
    if (multi && last && last !== one) {
      rows.push(
        contrastRow({ label: `Stays low: Hit@10 after ${last.epochs?.toFixed(2)} epochs − before the defence`, short: 'stays low', metric: 'fraction', direction: 'lower', key: true, a: last.v, ia: pick(g0(last.v)?.model, 'hit10'), b: before, ib: bHit, study: c!.study, missing, paper: { value: null, reference: null, ids: [], text: 'remains at a very low level afterwards' } }),
      );
    }
    const notes: string[] = [];
    if (c && !multi) notes.push(`Our curve (${c.study} · ${c.group}) spans at most one epoch; the paper's Figure 7 spans several (run \`${studyCommand('sterilize')}\`).`);
    if (c && c.stepsPerEpoch) notes.push(`${c.study}: one epoch ≈ ${c.stepsPerEpoch} steps (training pairs / batch).`);
    const paperCharts = [linePlot(['0', '1'], [{ name: 'Hit@10 (stated)', points: [{ y: P('f7.fp.before.hit10') }, { y: P('f7.fp.epoch1.hit10') }] }], { title: 'Figure 7: the paper\'s stated numbers', yLabel: 'Hit@10', xLabel: 'epochs of clean fine-tuning', scale: { kind: 'linear', max: 1 } })];
    const r = c ? studies.get(c.study) : null;
    return { rows, ours: r ? describeSetting(r, before) + `; sterilisation curve ${c!.group} (${c!.field})` : null, oursCharts: c ? [curveChart(c, `Figure 7 (ours, ${c.study}): Hit@10 during clean fine-tuning`)] : [], paperCharts, notes };
  },
};

const TABLE7: ItemDef = {
  id: 'table7',
  label: 'Table 7',
  title: 'Utility of post-training defense',
  kind: 'table',
  section: '§6',
  studies: ['sterilize', 'defences'],
  claim: 'The models\' utility does not drop after the post-training defence.',
  paperSetting: 'Hit@10 (TR, IR) of the sterilised models, change against the clean model in brackets; COCO listed, not compared.',
  numbers: ['t7.'],
  build({ studies }) {
    const cs = allCurves(studies).filter((c) => /(steps|epochs)$/.test(c.field));
    const c = cs.find((x) => Math.max(...x.points.map((p) => p.epochs ?? 0)) > 1.01) ?? cs[0] ?? null;
    const last = c?.points.at(-1) ?? null;
    const clean = c?.clean ?? null;
    const missing = c ? `no clean variant with utility in report ${c.study}` : studies.get('sterilize') || studies.get('defences') ? 'no sterilisation curve against Attack II in reports sterilize / defences' : `${missingStudy('sterilize')}; ${missingStudy('defences')}`;
    const rows = (['tr', 'ir'] as const).map((side) => {
      const val = last?.v.utility?.model[side]['10'] ?? null;
      const ref = clean?.utility?.model[side]['10'] ?? null;
      const paper = paperNumber(`t7.fp.${side}10`);
      const delta = paperNumber(`t7.fp.${side}10.delta`);
      return mkRow({
        label: `${side === 'tr' ? 'TR' : 'IR'} R@10 after the defence${last ? ` (${last.epochs != null ? `${last.epochs.toFixed(2)} epochs` : `${c!.field} ${last.x}`})` : ''} against the clean model`,
        short: `${side.toUpperCase()} Δ after defence`,
        metric: 'fraction',
        claim: { kind: 'noDrop', tolerance: UTILITY_TOLERANCE },
        key: true,
        paper: { value: paper.value, reference: Math.round((paper.value - delta.value) * 1000) / 1000, ids: [paper.id, delta.id] },
        ours: last && val ? { value: val, reference: ref, effect: clean ? pairedDiff(val, last.v.seeds, ref, clean.seeds) : null, from: vFrom(c!.study, last.v), study: c!.study, seeds: last.v.seeds } : null,
        missing,
      });
    });
    const r = c ? studies.get(c.study) : null;
    return { rows, ours: r ? describeSetting(r) + `; last point of ${c!.group}` : null };
  },
};

const TABLE8: ItemDef = {
  id: 'table8',
  label: 'Table 8',
  title: 'Influence of learning rate (LR)',
  kind: 'table',
  section: '§6',
  studies: ['sterilize', 'defences'],
  claim: 'After 5 epochs on clean data every learning rate weakens the attack; 1e-4 works best (Hit@10 0.008).',
  paperSetting: 'the Attack II model fine-tuned on VG for 5 epochs at lr 1e-3, 1e-4, 1e-5.',
  numbers: ['t8.'],
  build({ studies }) {
    const c = allCurves(studies).find((x) => /lr$/.test(x.field)) ?? null;
    const missing = studies.get('sterilize') || studies.get('defences') ? 'no learning-rate sweep of a sterilisation against Attack II in reports sterilize / defences' : `${missingStudy('sterilize')}; ${missingStudy('defences')}`;
    const at = (lr: number) => c?.points.find((p) => Math.abs(p.x - lr) <= lr * 1e-6) ?? null;
    const before = c?.before ?? null;
    const rows: PaperRow[] = [];
    const lrs: Array<[string, number]> = [
      ['1e-3', 1e-3],
      ['1e-4', 1e-4],
      ['1e-5', 1e-5],
    ];
    for (const [name, lr] of lrs) {
      const p = at(lr);
      for (const m of HITS_MR) {
        const val = pick(g0(p?.v)?.model, m);
        const ref = pick(g0(before)?.model, m);
        rows.push(
          mkRow({
            label: `lr ${name}: ${METRIC_NAMES[m]} after the defence (reference: the poisoned model before)`,
            short: `lr ${name} Hit@10`,
            metric: metricKind(m),
            claim: { kind: 'level', direction: m === 'minRank' ? 'higher' : 'lower' },
            key: m === 'hit10',
            paper: paperCell(`t8.fp.lr${name}.${m}`, `t8.fp.attack.${m}`),
            ours: p && val ? { value: val, reference: ref, effect: before ? pairedDiff(val, p.v.seeds, ref, before.seeds) : null, from: vFrom(c!.study, p.v, g0(p.v)?.goal), study: c!.study, seeds: p.v.seeds } : null,
            missing: c && !p ? `no lr ${name} point in ${c.study} · ${c.group}` : missing,
          }),
        );
      }
    }
    for (const other of ['1e-3', '1e-5']) {
      const a = at(1e-4);
      const b = at(Number(other));
      rows.push(
        contrastRow({ label: `lr 1e-4 beats lr ${other}: Hit@10 at 1e-4 − at ${other}`, short: `1e-4 < ${other}`, metric: 'fraction', direction: 'lower', key: true, a: a?.v ?? null, ia: pick(g0(a?.v)?.model, 'hit10'), b: b?.v ?? null, ib: pick(g0(b?.v)?.model, 'hit10'), study: c?.study ?? 'defences', missing: c ? `no lr 1e-4 / ${other} points in ${c.study} · ${c.group}` : missing, paper: paperCell('t8.fp.lr1e-4.hit10', `t8.fp.lr${other}.hit10`) }),
      );
    }
    const notes: string[] = [];
    const epochs = c?.points.map((p) => p.v.name).length ? (studies.get(c!.study)?.runs.find((x) => x.variant === c!.points[0].v.name)?.train?.epochs ?? null) : null;
    if (c) notes.push(`Ours: ${c.study} · ${c.group}${epochs != null ? `, ${epochs} epochs of clean fine-tuning per point` : ''}; the paper's Table 8 is after 5 epochs on VG.`);
    const chart = c
      ? barChart(lrs.map(([name, lr]) => ({ label: `lr ${name}`, bars: [{ name: 'paper', value: P(`t8.fp.lr${name}.hit10`) }, barOf('ours', pick(g0(at(lr)?.v)?.model, 'hit10'))] })), { title: 'Table 8: Hit@10 after the defence (paper vs ours)', yLabel: 'Hit@10', values: true })
      : null;
    const r = c ? studies.get(c.study) : null;
    return { rows, ours: r ? describeSetting(r, before) : null, oursCharts: chart ? [chart] : [], notes };
  },
};

const TABLE16: ItemDef = {
  id: 'table16',
  label: 'Table 16',
  title: 'Performance of pre-training defense against Attack II',
  kind: 'table',
  section: 'Appendix A.7, §6',
  studies: ['defences'],
  claim: 'Filtering pairs whose reference-model distance exceeds γ removes the attack (Hit@10 0.936 → 0.016, MinRank 2 → 49) and keeps utility (TR/IR Hit@10 0.978/0.970 vs clean 0.984/0.971).',
  paperSetting: 'γ = 0.80 set from a labelled sample, reference pretrained CLIP-ViT-B/16; the victim fine-tuned on the filtered Flickr-PASCAL.',
  numbers: ['t16.', 's6.'],
  build({ ws, studies }) {
    const r = studies.get('defences');
    const fs = r ? filterVariants(r) : [];
    const before = r ? attackVariant(r, 'II') : null;
    const clean = r ? cleanVariant(r) : null;
    const keyed = fs.filter((v) => /auto|paper/i.test(`${v.name} ${v.label}`));
    const isKey = (v: VariantAggregate) => (keyed.length ? keyed.includes(v) : true);
    const missing = r ? 'no filter variant against Attack II in report defences' : missingStudy('defences');
    const rows: PaperRow[] = [];
    const list: Array<VariantAggregate | null> = fs.length ? fs : [null];
    for (const v of list) {
      const g = g0(v);
      const key = v ? isKey(v) : true;
      for (const m of ['hit10', 'minRank'] as HitMetric[]) {
        const val = pick(g?.model, m);
        const ref = pick(g0(before)?.model, m);
        rows.push(
          mkRow({
            label: `${v ? v.label : 'filter'}: ${METRIC_NAMES[m]} after retraining on the filtered set (reference: Attack II before)`,
            short: `${v ? v.name : 'filter'} Hit@10`,
            metric: metricKind(m),
            claim: { kind: 'level', direction: m === 'minRank' ? 'higher' : 'lower' },
            key: key && m === 'hit10',
            paper: paperCell(`t16.fp.defence.${m}`, `t16.fp.attack.${m}`),
            ours: v && val ? { value: val, reference: ref, effect: before ? pairedDiff(val, v.seeds, ref, before.seeds) : null, from: vFrom('defences', v, g?.goal), study: 'defences', seeds: v.seeds } : null,
            missing,
          }),
        );
      }
      rows.push(
        contrastRow({ label: `${v ? v.label : 'filter'}: Hit@10 "even lower than the clean model" (defended − clean)`, metric: 'fraction', direction: 'lower', key: false, a: v, ia: pick(g?.model, 'hit10'), b: clean, ib: pick(g0(clean)?.model, 'hit10'), study: 'defences', missing, paper: paperCell('t16.fp.defence.hit10', 't16.fp.clean.hit10') }),
      );
      for (const side of ['tr', 'ir'] as const) {
        const val = v?.utility?.model[side]['10'] ?? null;
        const ref = clean?.utility?.model[side]['10'] ?? null;
        rows.push(
          mkRow({
            label: `${v ? v.label : 'filter'}: ${side === 'tr' ? 'TR' : 'IR'} R@10 against the clean model`,
            short: `${v ? v.name : 'filter'} ${side.toUpperCase()} Δ`,
            metric: 'fraction',
            claim: { kind: 'noDrop', tolerance: UTILITY_TOLERANCE },
            key,
            paper: paperCell(`s6.fp.defended.${side}10`, `s6.fp.clean.${side}10`),
            ours: v && val ? { value: val, reference: ref, effect: clean ? pairedDiff(val, v.seeds, ref, clean.seeds) : null, from: vFrom('defences', v), study: 'defences', seeds: v.seeds } : null,
            missing,
          }),
        );
      }
      const f = v && r ? filterFacts(ws, r, v) : null;
      if (f) {
        rows.push(
          mkRow({ label: `${v!.label}: γ (cosine distance above which a pair is dropped; the scale depends on the reference model)`, metric: 'distance', claim: { kind: 'info' }, key: false, paper: paperCell('f6.fp.gamma', null), ours: { value: constant(f.report.gamma), reference: null, effect: null, from: `defences · ${v!.name} · ${f.trainset}`, study: 'defences', seeds: v!.seeds.slice(0, 1), note: `poisoned pairs caught (recall) ${f.report.metrics.recall?.toFixed(3) ?? '–'}, precision ${f.report.metrics.precision?.toFixed(3) ?? '–'}, ROC AUC ${f.report.roc?.auc?.toFixed(4) ?? '–'}` } }),
        );
      }
    }
    const notes = keyed.length ? [`Key rows: the filters that set γ from a labelled clean sample as the paper describes (${keyed.map((v) => v.name).join(', ')}); the other filters are shown with their own verdicts.`] : [];
    return { rows, ours: r ? describeSetting(r, before) : null, notes };
  },
};

const FIGURE9: ItemDef = {
  id: 'figure9',
  label: 'Figure 9',
  title: 'Influence of different steps in the first epoch',
  kind: 'figure',
  section: 'Appendix A.8',
  studies: ['sterilize', 'defences'],
  claim: 'The post-training defence works within a small fraction of the first epoch: Hit@10 0.936 → 0.032 at step 50 of 2110.',
  statements: ['Batch 128; one epoch = 2110 steps.', 'Hit@10 drops from 0.936 to 0.032 at the 50th step (2.4% of an epoch).'],
  paperSetting: 'the Attack II model (Flickr-PASCAL) fine-tuned on VG at lr 1e-5, evaluated after a number of steps within the first epoch.',
  numbers: ['f9.'],
  build({ studies }) {
    const cs = allCurves(studies).filter((c) => /steps$/.test(c.field));
    const c = cs.find((x) => x.points.every((p) => p.epochs === null || p.epochs <= 1.01)) ?? cs[0] ?? null;
    const first = c?.points[0] ?? null;
    const before = c?.before ?? null;
    const missing = studies.get('sterilize') || studies.get('defences') ? 'no sterilisation curve over steps against Attack II in reports sterilize / defences' : `${missingStudy('sterilize')}; ${missingStudy('defences')}`;
    const val = pick(g0(first?.v)?.model, 'hit10');
    const ref = pick(g0(before)?.model, 'hit10');
    const frac = first?.epochs != null ? `${(100 * first.epochs).toFixed(1)}% of an epoch` : 'fraction of an epoch unknown';
    const rows = [
      mkRow({
        label: `Hit@10 at our earliest step (${first ? `${first.x} steps, ${frac}; ` : ''}the paper: step 50 = 2.4% of an epoch)`,
        short: 'Hit@10 early in epoch 1',
        metric: 'fraction' as Metric,
        claim: { kind: 'level', direction: 'lower' } as Claim,
        key: true,
        paper: paperCell('f9.fp.step50.hit10', 'f9.fp.before.hit10'),
        ours: first && val ? { value: val, reference: ref, effect: before ? pairedDiff(val, first.v.seeds, ref, before.seeds) : null, from: vFrom(c!.study, first.v, g0(first.v)?.goal), study: c!.study, seeds: first.v.seeds } : null,
        missing,
      }),
    ];
    const paperCharts = [linePlot(['0', '50'], [{ name: 'Hit@10 (stated)', points: [{ y: P('f9.fp.before.hit10') }, { y: P('f9.fp.step50.hit10') }] }], { title: 'Figure 9: the paper\'s stated numbers', yLabel: 'Hit@10', xLabel: 'steps (one epoch = 2110)', scale: { kind: 'linear', max: 1 } })];
    const r = c ? studies.get(c.study) : null;
    return { rows, ours: r ? describeSetting(r, before) + `; curve ${c!.group}${c!.stepsPerEpoch ? `, one epoch ≈ ${c!.stepsPerEpoch} steps` : ''}` : null, oursCharts: c ? [curveChart(c, `Figure 9 (ours, ${c.study}): Hit@10 over steps`)] : [], paperCharts };
  },
};

const TABLE13: ItemDef = {
  id: 'table13',
  label: 'Table 13',
  title: 'Performance of Attack II on balanced datasets',
  kind: 'table',
  section: 'Appendix A.6',
  studies: ['balanced'],
  claim: 'With one caption per image the attack still works (Flickr-PASCAL-b Hit@10 0.944, a 0.744 gain over the baseline).',
  paperSetting: 'Flickr-PASCAL-b / COCO-b: one randomly chosen caption per image, other settings as in Table 3; COCO-b listed, not compared.',
  numbers: ['t13.'],
  build({ studies }) {
    const r = studies.get('balanced');
    const v = r ? attackVariant(r, 'II') : null;
    const missing = r ? 'no Attack II variant in report balanced' : missingStudy('balanced');
    const gain = P('t13.fpb.gain.hit10');
    const rows = goalRows({ study: 'balanced', v, label: `Attack II ${v?.goals[0]?.goal ?? 'sheep>aeroplane'}, one caption per image`, paperOurs: 't13.fpb.ours', paperRef: null, reference: 'baseline', missing });
    // The text gives the Hit@10 baseline only as the gain: 0.944 − 0.744.
    const h10 = rows.find((x) => x.label.includes('Hit@10'));
    if (h10) {
      h10.paper = { ...h10.paper, reference: Math.round((P('t13.fpb.ours.hit10') - gain) * 1000) / 1000, ids: [...h10.paper.ids, 't13.fpb.gain.hit10'] };
      Object.assign(h10, judgeRow(h10));
    }
    const chart = levelBars('Table 13: paper vs ours (Hit@K)', rows);
    return { rows, ours: r ? describeSetting(r, v) : null, oursCharts: chart ? [chart] : [] };
  },
};

const TABLE15: ItemDef = {
  id: 'table15',
  label: 'Table 15',
  title: 'Influence of the length of texts',
  kind: 'table',
  section: 'Appendix A.6',
  studies: ['text-length'],
  claim: 'Longer query texts (captions repeated ×2, ×3) weaken Attack I: "the longer, the worse".',
  paperSetting: 'Attack I on Flickr-PASCAL; test captions (8.944 words on average) repeated ×2 and ×3; context 76 tokens.',
  numbers: ['t15.'],
  build({ studies }) {
    const r = studies.get('text-length');
    const missing = r ? 'fewer than two caption lengths of an attacked variant in report text-length' : missingStudy('text-length');
    let ms: Array<{ v: VariantAggregate; factor: number }> = [];
    if (r) {
      const attacked = r.variants.filter((v) => v.kind === 'attack' && v.attack);
      const type = attacked.some((v) => v.attack?.type === 'I') ? 'I' : attacked[0]?.attack?.type;
      const mine = attacked.filter((v) => v.attack?.type === type);
      const ev = ((r.study?.evaluation as { datasets?: string[] } | undefined)?.datasets ?? []) as string[];
      const datasets = [...new Set(mine.map((v) => v.dataset))];
      const factorOf = (s: string, i: number) => {
        const m = /(?:x|×|repeat-?|times-?)(\d+)/i.exec(s);
        return m ? Number(m[1]) : i + 1;
      };
      if (datasets.length >= 2) {
        const ordered = datasets.sort((a, b) => (ev.indexOf(a) === -1 ? 99 : ev.indexOf(a)) - (ev.indexOf(b) === -1 ? 99 : ev.indexOf(b)));
        ms = ordered.map((d, i) => ({ v: mine.find((v) => v.dataset === d && v.setting === null) ?? mine.find((v) => v.dataset === d)!, factor: factorOf(d, i) }));
      } else {
        const swept = mine.filter((v) => v.setting && typeof v.setting.value === 'number');
        ms = swept.map((v) => ({ v, factor: v.setting!.value as number })).sort((a, b) => a.factor - b.factor);
      }
    }
    const rows: PaperRow[] = [];
    for (const f of [1, 2, 3]) {
      const m = ms.find((x) => x.factor === f) ?? null;
      rows.push(...goalRows({ study: 'text-length', v: m?.v ?? null, label: `captions ×${f}${m ? ` (${m.v.dataset})` : ''}`, shortPrefix: `×${f}`, paperOurs: `t15.fp.x${f}`, paperRef: null, reference: 'baseline', keys: [], missing: r && !m ? `no ×${f} evaluation in report text-length` : missing }));
    }
    const x1 = ms.find((x) => x.factor === 1) ?? null;
    const xN = ms.filter((x) => x.factor > 1).at(-1) ?? null;
    for (const m of ['hit10', 'minRank'] as HitMetric[]) {
      const pN = xN && xN.factor <= 3 ? `t15.fp.x${xN.factor}.${m}` : `t15.fp.x3.${m}`;
      rows.push(
        contrastRow({ label: `${METRIC_NAMES[m]}: captions ×${xN?.factor ?? 3} − ×1 (longer is worse)`, short: `${m === 'hit10' ? 'Hit@10' : 'MinRank'} worse when longer`, metric: metricKind(m), direction: m === 'hit10' ? 'lower' : 'higher', key: true, a: xN?.v ?? null, ia: pick(g0(xN?.v)?.model, m), b: x1?.v ?? null, ib: pick(g0(x1?.v)?.model, m), study: 'text-length', missing: r ? 'no ×1 and longer evaluations in report text-length' : missing, paper: paperCell(pN, `t15.fp.x1.${m}`) }),
      );
    }
    const chart = ms.length
      ? barChart(
          [1, 2, 3].map((f) => ({ label: `×${f}`, bars: [{ name: 'paper Hit@10', value: P(`t15.fp.x${f}.hit10`) }, barOf('ours Hit@10', pick(g0(ms.find((x) => x.factor === f)?.v)?.model, 'hit10'))] })),
          { title: 'Table 15: Hit@10 by caption length (paper vs ours)', yLabel: 'Hit@10', values: true },
        )
      : null;
    return { rows, ours: r ? describeSetting(r, ms[0]?.v) : null, oursCharts: chart ? [chart] : [] };
  },
};

function contextItem(o: { id: string; label: string; title: string; section: string; claim: string; numbers: string[]; note: string }): ItemDef {
  return {
    id: o.id,
    label: o.label,
    title: o.title,
    kind: 'context',
    section: o.section,
    studies: [],
    claim: o.claim,
    paperSetting: '—',
    numbers: o.numbers,
    build: () => ({ rows: [], ours: null, notes: [o.note] }),
  };
}

/** Every table and figure, in the paper's order (body, then appendix). */
export const ITEMS: ItemDef[] = [
  TABLE1,
  attackTableItem({ id: 'table2', label: 'Table 2', title: 'Performance of Attack I', attack: 'I', prefix: 't2', section: '§4.2.1', claim: 'Attack I maps the class-A texts to one target image: Flickr-PASCAL Hit@10 0.968, MinRank 2.18 (baseline 0.032, 79.2).' }),
  attackTableItem({ id: 'table3', label: 'Table 3', title: 'Performance of Attack II', attack: 'II', prefix: 't3', section: '§4.2.1', claim: 'Attack II maps the class-A texts to the class-B images: Flickr-PASCAL Hit@10 0.936, MinRank 2.19 (baseline 0.200, 51.0).' }),
  TABLE4,
  driftItem({ id: 'figure1', label: 'Figure 1', title: 'Cosine distance of the embeddings of the test samples between clean and poisoned models', kind: 'figure', study: 'drift', section: '§4.2.2', claim: 'The image embeddings change more than the text embeddings after poisoning (the image encoder is more affected).', direction: 'image', paperValue: null, paperRef: null, paperText: 'text embeddings of clean and poisoned models are more similar than the image embeddings (no numbers in the text)', numbers: [], paperSetting: 'mean cosine distance between the clean and the poisoned model\'s embeddings of the test images and texts, both datasets.' }),
  freezeItem({ id: 'table5', label: 'Table 5', title: 'Performance of Attack II with frozen encoders', study: 'freeze', prefix: 't5', section: '§4.2.2', claim: 'M_p (both encoders poisoned) is strongest; poisoning only the image encoder (M_p^i) gives a lower MinRank than only the text encoder (M_p^t), which gives the higher Hit@1.', paperSetting: 'Attack II, one run per model; COCO listed, not compared.' }),
  FIGURE2,
  FIGURE3,
  sameItem({ id: 'figure4', label: 'Figure 4', title: 'Influence of different CLIP models', study: 'encoders', section: '§4.2.3', claim: 'The image-encoder type does not substantially affect the attack: MinRank is more or less the same on the three models.', statements: ['"the MinRank results are more or less the same on the three models (on both datasets)" (no numbers in the text)', 'Models: CLIP ViT-B/32, ViT-B/16, ViT-L/14 (Table 10).'], paperSetting: 'Attack II with three pretrained CLIP image towers (ViT-B/32, ViT-B/16, ViT-L/14), both datasets.', numbers: [], factor: 'image encoder', members: factorMembers, keyHit: false }),
  sameItem({ id: 'figure5a', label: 'Figure 5a', title: 'Influence of dataset size', study: 'dataset-size', section: '§4.2.3', claim: 'At the same poisoning rate the attack performance is not correlated with the data size.', statements: ['"under the same poisoning rate, the attack performance is not correlated with the data size" (no numbers in the text)', 'COCO, COCO-M (50% per class), COCO-S (25% per class) at 0.24%, the same 3,900 test images.'], paperSetting: 'Attack II boat2dog on COCO, COCO-M, COCO-S at the same rate 0.24%.', numbers: ['f5a.'], factor: 'dataset size', members: factorMembers, keyHit: true }),
  FIGURE5B,
  TABLE6,
  FIGURE6,
  FIGURE7,
  TABLE7,
  TABLE8,
  contextItem({ id: 'table9', label: 'Table 9', title: 'Dataset statistics', section: 'Appendix A.1', claim: 'Describes the paper\'s datasets (not a finding).', numbers: ['t9.'], note: 'Context, not a finding: our datasets are generated scenes worlds; each item states our setting (dataset, pool, rate) beside the paper\'s.' }),
  contextItem({ id: 'table10', label: 'Table 10', title: 'Model size', section: 'Appendix A.3', claim: 'Describes the paper\'s models (not a finding).', numbers: ['t10.'], note: 'Context, not a finding: our models are small CLIPs trained from scratch on this machine (`poisonlens models` lists them).' }),
  contextItem({ id: 'figure8', label: 'Figure 8', title: 'Embedding distribution of the PASCAL dataset', section: 'Appendix A.4', claim: 'Image embeddings of the pretrained CLIP are more separable by class than text embeddings (a qualitative plot).', numbers: [], note: 'Not measured: a qualitative embedding plot of the pretrained model; no study of issue 19 maps to it.' }),
  driftItem({ id: 'table11', label: 'Table 11', title: 'Cosine distance between clean and poisoned encoders on Flickr-PASCAL', kind: 'table', study: 'drift', section: 'Appendix A.5', claim: 'Over 5 runs the text embeddings change more than the image embeddings (0.103 vs 0.094, paired two-tailed t-test p = 0.0071).', direction: 'text', paperValue: 't11.fp.text', paperRef: 't11.fp.image', pId: 't11.fp.p', paperText: 'text 0.103 (sd 0.0025) vs image 0.094 (sd 0.0033), p = 0.0071', numbers: ['t11.'], paperSetting: '5 runs; paired, two-tailed t-test across runs of text vs image drift.' }),
  freezeItem({ id: 'table12', label: 'Table 12', title: 'Performance of Attack II with frozen encoders on Flickr-PASCAL (5 runs)', study: 'freeze-5', prefix: 't12', section: 'Appendix A.5', claim: 'Table 5\'s observations hold over 5 runs (paired t-tests significant except Hit@1 of M_p vs M_p^i, p = 0.17).', paperSetting: 'Attack II on Flickr-PASCAL, 5 runs per model, mean (sd); paired two-tailed t-tests.' }),
  TABLE13,
  driftItem({ id: 'table14', label: 'Table 14', title: 'Cosine distance between clean and poisoned encoders on balanced datasets', kind: 'table', study: 'balanced', section: 'Appendix A.6', claim: 'With one caption per image the image encoder still changes more than the text encoder (Flickr-PASCAL-b 0.047 vs 0.044).', direction: 'image', paperValue: 't14.fpb.image', paperRef: 't14.fpb.text', paperText: 'image 0.047 vs text 0.044 (Flickr-PASCAL-b)', numbers: ['t14.'], paperSetting: 'Flickr-PASCAL-b / COCO-b (one caption per image); COCO-b listed, not compared.' }),
  TABLE15,
  TABLE16,
  FIGURE9,
];

/** Every item, built from the finished studies (each report.json read once, through `studies`). */
export function buildItems(ws: Workspace, studies = new Studies(ws)): ItemResult[] {
  const ctx: Ctx = { ws, studies };
  return ITEMS.map((def) => {
    let b: Built;
    try {
      b = def.build(ctx);
    } catch (err) {
      // A report of another shape (a study changed under us) must not take the whole page down.
      const why = `cannot read ${def.studies.map((id) => `reports/${id}/report.json`).join(' / ')}: ${(err as Error).message}`;
      b = { rows: [mkRow({ label: `${def.label}: the study's report`, metric: 'fraction', claim: { kind: 'level', direction: 'higher' }, key: true, paper: { value: null, reference: null, ids: [] }, ours: null, missing: why })], ours: null };
    }
    const used = new Set(b.rows.flatMap((r) => r.paper.ids));
    const own = PAPER_NUMBERS.filter((n) => def.numbers.some((p) => n.id.startsWith(p)));
    const v = def.kind === 'context' ? { status: 'no verdict' as RowStatus, reason: 'context, not a finding' } : itemVerdict(b.rows);
    const present = def.studies.map((id) => studies.info(id));
    let reason = v.reason;
    if (v.status === 'missing' && present.every((s) => !s.present)) reason = present.map((s) => missingStudy(s.id)).join('; ');
    return {
      id: def.id,
      label: def.label,
      title: def.title,
      kind: def.kind,
      section: def.section,
      studies: present.map((s) => ({ id: s.id, present: s.present, command: s.command })),
      claim: def.claim,
      statements: def.statements ?? [],
      setting: { paper: def.paperSetting, ours: b.ours },
      rows: b.rows,
      verdict: v.status,
      reason,
      otherPaperNumbers: own.filter((n) => !used.has(n.id)),
      notes: b.notes ?? [],
      charts: { paper: b.paperCharts ?? (def.statements?.length ? [statementCard(`${def.label}: what the paper's text states`, def.statements)] : []), ours: b.oursCharts ?? [] },
    };
  });
}
