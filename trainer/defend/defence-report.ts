import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../../core/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../core/fsutil.js';
import type { Workspace } from '../../core/workspace.js';
import { readTrainsetCard, trainsetDir } from '../../data/trainset.js';
import { REPORT_CSS } from '../experiment/html.js';
import type { Report, ReportRun } from '../experiment/study-report.js';
import { loadReport, reportDir } from '../experiment/runner.js';
import { esc, linePlot } from '../experiment/svg.js';
import { PAIR_DEFENCES } from './filter.js';

/**
 * `poisonlens defend report STUDY_ID`: the defence figures of a study that ran (`poisonlens
 * experiment`), as a page beside its report: for every filter / SafeCLIP-style split run, the
 * filter's numbers (γ, recall, precision, clean pairs lost, ROC AUC) with its ROC and distance
 * densities (the paper's Figure 6), and, for every sterilisation group, Hit@10 and utility against
 * the swept setting (steps: the paper's Figure 9; lr: its Table 8). Writes
 * reports/<id>/defences.html and defences.json.
 */

interface FilterRow {
  variant: string;
  seed: number;
  model: string;
  trainset: string;
  method: string;
  gamma: number | null;
  recall: number | null;
  precision: number | null;
  cleanLost: number | null;
  dropped: number | null;
  auc: number | null;
  hit10: number | null;
  ir10: number | null;
  roc: string | null;
  densities: string | null;
}

interface CurvePoint {
  setting: string;
  hit10: number | null;
  baselineHit10: number | null;
  ir10: number | null;
}

export interface DefenceSummary {
  study: string;
  filters: FilterRow[];
  sterilisation: Array<{ group: string; field: string; seed: number; points: CurvePoint[] }>;
}

function mainEval(r: ReportRun) {
  return r.evals.find((e) => !e.reference) ?? r.evals[0];
}

const meanOf = (xs: Array<number | null | undefined>): number | null => {
  const v = xs.filter((x): x is number => typeof x === 'number');
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

function hit10(r: ReportRun): number | null {
  const e = mainEval(r);
  return e ? meanOf(e.result.goals.map((g) => g.model.hit['10'])) : null;
}

function ir10(r: ReportRun): number | null {
  const v = r.evals.map((e) => e.result.utility?.model.ir['10']).find((x) => typeof x === 'number');
  return v ?? null;
}

export function summarizeDefences(ws: Workspace, report: Report): DefenceSummary {
  const kindOf = new Map(report.variants.map((v) => [v.name, v.kind]));
  const settingOf = new Map(report.variants.map((v) => [v.name, v.setting]));
  const filters: FilterRow[] = [];
  const groups = new Map<string, DefenceSummary['sterilisation'][number]>();
  for (const r of report.runs) {
    const kind = kindOf.get(r.variant);
    if ((PAIR_DEFENCES as readonly string[]).includes(kind ?? '') && r.trainset) {
      const dir = trainsetDir(ws, r.trainset);
      const card = readTrainsetCard(ws, r.trainset);
      const f = (card?.filter ?? {}) as Record<string, number | string | null | undefined>;
      const svg = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : null);
      filters.push({
        variant: r.variant,
        seed: r.seed,
        model: r.model,
        trainset: r.trainset,
        method: String(f.method ?? card?.builder.name ?? kind),
        gamma: typeof f.gamma === 'number' ? f.gamma : null,
        recall: typeof f.recall === 'number' ? f.recall : null,
        precision: typeof f.precision === 'number' ? f.precision : null,
        cleanLost: typeof f.cleanLost === 'number' ? f.cleanLost : null,
        dropped: typeof f.dropped === 'number' ? f.dropped : null,
        auc: typeof f.auc === 'number' ? f.auc : null,
        hit10: hit10(r),
        ir10: ir10(r),
        roc: svg('roc.svg'),
        densities: svg('densities.svg'),
      });
    }
    if (kind === 'sterilize') {
      const setting = settingOf.get(r.variant) ?? null;
      const key = `${r.group}\u0000${r.seed}`;
      let g = groups.get(key);
      if (!g) {
        g = { group: r.group, field: setting?.field ?? '(none)', seed: r.seed, points: [] };
        groups.set(key, g);
      }
      const e = mainEval(r);
      g.points.push({
        setting: setting ? String(setting.value) : r.variant,
        hit10: hit10(r),
        baselineHit10: e ? meanOf(e.result.goals.map((x) => x.baseline.hit['10'])) : null,
        ir10: ir10(r),
      });
    }
  }
  return { study: report.id, filters, sterilisation: [...groups.values()] };
}

const f3 = (x: number | null) => (x === null ? '–' : x.toFixed(3));

export function renderDefencesHtml(report: Report, s: DefenceSummary): string {
  const parts: string[] = [];
  parts.push(`<h1>Defences — ${esc(report.title)}</h1>`);
  parts.push(`<p>Study <code>${esc(report.id)}</code>; the study's own report: <a href="report.html">report.html</a>.</p>`);
  parts.push('<h2>Pre-training filters</h2>');
  if (s.filters.length === 0) parts.push('<p>No filter or split variants in this study.</p>');
  else {
    parts.push('<table><thead><tr><th>variant</th><th>seed</th><th>method</th><th>γ</th><th>recall (poisoned dropped)</th><th>precision</th><th>clean pairs lost</th><th>pairs dropped</th><th>ROC AUC</th><th>Hit@10 after retraining</th><th>IR R@10</th></tr></thead><tbody>');
    for (const r of s.filters) {
      parts.push(`<tr><td>${esc(r.variant)}</td><td>${r.seed}</td><td>${esc(r.method)}</td><td>${f3(r.gamma)}</td><td>${f3(r.recall)}</td><td>${f3(r.precision)}</td><td>${f3(r.cleanLost)}</td><td>${r.dropped ?? '–'}</td><td>${f3(r.auc)}</td><td>${f3(r.hit10)}</td><td>${f3(r.ir10)}</td></tr>`);
    }
    parts.push('</tbody></table>');
    for (const r of s.filters) {
      parts.push(`<h3>${esc(r.variant)} (seed ${r.seed}): training set <code>${esc(r.trainset)}</code></h3>`);
      parts.push(`<div class="charts">${r.roc ?? '<p>no ROC (no poison records)</p>'}${r.densities ?? ''}</div>`);
    }
  }
  parts.push('<h2>Post-training sterilisation</h2>');
  if (s.sterilisation.length === 0) parts.push('<p>No sterilisation variants in this study.</p>');
  for (const g of s.sterilisation) {
    parts.push(
      `<div class="charts">${linePlot(
        g.points.map((p) => p.setting),
        [
          { name: 'Hit@10', points: g.points.map((p) => ({ y: p.hit10 })) },
          { name: 'random captions Hit@10', points: g.points.map((p) => ({ y: p.baselineHit10 })), dash: '4 3' },
          { name: 'utility IR R@10', points: g.points.map((p) => ({ y: p.ir10 })) },
        ],
        { title: `${g.group} (seed ${g.seed})`, yLabel: 'fraction', xLabel: g.field, scale: { kind: 'linear', max: 1 } },
      )}</div>`,
    );
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Defences — ${esc(report.title)}</title><style>${REPORT_CSS}</style></head><body>${parts.join('\n')}</body></html>\n`;
}

export function writeDefenceReport(ws: Workspace, studyId: string): { html: string; json: string; summary: DefenceSummary } {
  const report = loadReport(ws, studyId);
  if (!report) throw new NotFoundError(`no report for study ${JSON.stringify(studyId)} (run \`poisonlens experiment\` first)`, 'report_not_found');
  const summary = summarizeDefences(ws, report);
  const dir = reportDir(ws, studyId);
  const html = join(dir, 'defences.html');
  const json = join(dir, 'defences.json');
  writeFileAtomic(html, renderDefencesHtml(report, summary));
  writeJsonAtomic(json, { ...summary, filters: summary.filters.map(({ roc: _r, densities: _d, ...rest }) => rest) });
  return { html, json, summary };
}
