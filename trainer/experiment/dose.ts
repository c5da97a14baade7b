import { join } from 'node:path';
import { NotFoundError } from '../../core/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../core/fsutil.js';
import type { Workspace } from '../../core/workspace.js';
import { readTrainsetCard } from '../../data/trainset.js';
import { REPORT_CSS } from './html.js';
import { bootstrap, fitLogistic, predict, type BinomialObs, type LogisticFit } from '../../eval/logistic.js';
import { interval, type Interval } from '../../eval/statistics.js';
import type { Report, ReportRun } from './study-report.js';
import { loadReport, reportDir } from './runner.js';
import { esc, scatterPlot, type ScatterSeries } from './svg.js';

/**
 * `poisonlens report dose STUDY_ID`: which quantity drives the attack. Every attacked run of a
 * study becomes one observation — Hit@10 of the goal's queries (hits out of queries) at its
 * poisoned image count K, share (K / class-A images of its pool), rate (poisoned pairs / all
 * pairs) and fine-tuning epochs E — and binomial logistic models in each factor alone and in all
 * of them are fitted and compared by AIC. The smallest K that reaches Hit@10 ≥ 0.5 is read off
 * the fit at the reference conditions (every class-A image poisoned, the reference pool and
 * epochs), with a bootstrap interval over runs. Writes reports/<id>/dose.html and dose.json.
 */

export interface DosePoint {
  variant: string;
  seed: number;
  model: string;
  poolImages: number;
  /** Class-A images of the training set (label), and companions showing A. */
  classImages: number;
  companionImages: number;
  poisonedImages: number;
  rate: number;
  share: number;
  epochs: number;
  hits: number;
  queries: number;
  hit10: number;
  meanMinRank: number;
}

export const FACTORS = ['log count', 'log share', 'log rate', 'epochs'] as const;
export type Factor = (typeof FACTORS)[number];

function factorValues(p: DosePoint): Record<Factor, number> {
  return { 'log count': Math.log(p.poisonedImages), 'log share': Math.log(p.share), 'log rate': Math.log(p.rate), epochs: p.epochs };
}

/** The attacked runs of a report as dose points (runs without poison or without a result are skipped). */
export function dosePoints(ws: Workspace, report: Report): DosePoint[] {
  const out: DosePoint[] = [];
  for (const r of report.runs) {
    const p = dosePoint(ws, r);
    if (p) out.push(p);
  }
  return out;
}

function dosePoint(ws: Workspace, r: ReportRun): DosePoint | null {
  const e = r.evals.find((x) => !x.reference);
  const goal = e?.result.goals[0];
  if (!r.poison || !r.trainset || !goal || r.poison.poisonedPairs === 0) return null;
  const card = readTrainsetCard(ws, r.trainset);
  const share = (card?.attack as { shares?: Array<{ labelImages: number; companionImages: number; poisonedImages: number; share: number }> } | undefined)?.shares?.[0];
  const pool = card?.pool as { images?: number } | undefined;
  const hit10 = goal.model.hit['10'];
  if (!share || hit10 === null || hit10 === undefined) return null;
  const queries = goal.model.queries;
  return {
    variant: r.variant,
    seed: r.seed,
    model: r.model,
    poolImages: pool?.images ?? card?.counts.images ?? 0,
    classImages: share.labelImages,
    companionImages: share.companionImages,
    poisonedImages: share.poisonedImages,
    rate: r.poison.rate,
    share: share.share,
    epochs: r.train?.epochs ?? 0,
    hits: Math.round(hit10 * queries),
    queries,
    hit10,
    meanMinRank: goal.model.minRank.mean ?? Number.NaN,
  };
}

export interface FactorFit {
  factors: Factor[];
  fit: LogisticFit;
}

export interface DoseAnalysis {
  points: number;
  fits: FactorFit[];
  /** The single factor whose model has the lowest AIC. */
  driver: Factor | null;
  /** Smallest poisoned-image count with predicted Hit@10 ≥ 0.5 at the reference conditions. */
  k50: { reference: { poolImages: number; epochs: number; share: 1 }; estimate: number | null; lo: number | null; hi: number | null; reps: number } | null;
}

/** Factors that vary in the design (a constant factor cannot be fitted). */
function varying(points: DosePoint[]): Factor[] {
  return FACTORS.filter((f) => new Set(points.map((p) => factorValues(p)[f].toFixed(9))).size > 1);
}

export function fitFactors(points: DosePoint[], factors: Factor[]): LogisticFit {
  const obs: BinomialObs[] = points.map((p) => ({ x: factors.map((f) => factorValues(p)[f]), hits: p.hits, trials: p.queries }));
  return fitLogistic(obs);
}

/** Smallest whole K with predicted Hit@10 ≥ 0.5 when all K class-A images are poisoned (null: none up to 10,000). */
export function k50(fit: LogisticFit, factors: Factor[], ref: { poolImages: number; epochs: number; captionsPerImage: number }): number | null {
  for (let k = 1; k <= 10_000; k++) {
    const v: Record<Factor, number> = { 'log count': Math.log(k), 'log share': 0, 'log rate': Math.log(k / ref.poolImages), epochs: ref.epochs };
    if (predict(fit, factors.map((f) => v[f])) >= 0.5) return k;
  }
  return null;
}

export function analyseDose(points: DosePoint[], ref: { poolImages: number; epochs: number }, reps = 1000, seed = 0): DoseAnalysis {
  const free = varying(points);
  if (points.length < 3 || free.length === 0) return { points: points.length, fits: [], driver: null, k50: null };
  const fits: FactorFit[] = free.map((f) => ({ factors: [f], fit: fitFactors(points, [f]) }));
  if (free.length > 1) fits.push({ factors: free, fit: fitFactors(points, free) });
  const singles = fits.filter((f) => f.factors.length === 1);
  const driver = singles.reduce((a, b) => (b.fit.aic < a.fit.aic ? b : a)).factors[0];
  const refFull = { ...ref, captionsPerImage: 5 };
  const est = k50(fits[fits.length - 1].fit, free, refFull);
  const boot = bootstrap(points, (sample) => (varying(sample).length === free.length ? k50(fitFactors(sample, free), free, refFull) : null), reps, seed);
  return { points: points.length, fits, driver, k50: { reference: { ...ref, share: 1 }, estimate: est, lo: boot.lo, hi: boot.hi, reps } };
}

/** One design point (variant) over its seeds: the conditions and Hit@10 / MinRank with 95% t-intervals. */
export interface DesignSummary {
  variant: string;
  poolImages: number;
  classImages: number;
  poisonedImages: number;
  share: number;
  rate: number;
  epochs: number;
  seeds: number[];
  hit10: Interval;
  meanMinRank: Interval;
}

/** The runs grouped by variant (one design point, several seeds), in the order the variants first appear. */
export function designSummaries(points: DosePoint[]): DesignSummary[] {
  const groups = new Map<string, DosePoint[]>();
  for (const p of points) groups.set(p.variant, [...(groups.get(p.variant) ?? []), p]);
  return [...groups.values()].map((runs) => {
    const p = runs[0];
    return {
      variant: p.variant, poolImages: p.poolImages, classImages: p.classImages, poisonedImages: p.poisonedImages, share: p.share, rate: p.rate, epochs: p.epochs,
      seeds: runs.map((r) => r.seed).sort((a, b) => a - b),
      hit10: interval(runs.map((r) => r.hit10)),
      meanMinRank: interval(runs.map((r) => r.meanMinRank)),
    };
  });
}

// ------------------------------------------------------------------------------ the page

function plots(points: DosePoint[], a: DoseAnalysis): string[] {
  const byEpochs = [...new Set(points.map((p) => p.epochs))].sort((x, y) => x - y);
  const series = (x: (p: DosePoint) => number): ScatterSeries[] =>
    byEpochs.map((e) => ({
      name: `${e} epoch${e === 1 ? '' : 's'}`,
      points: points.filter((p) => p.epochs === e).map((p) => ({ x: x(p), y: p.hit10, label: `${p.variant} seed ${p.seed}: K ${p.poisonedImages}, share ${p.share.toFixed(3)}, rate ${(100 * p.rate).toFixed(3)}%, Hit@10 ${p.hit10.toFixed(3)}` })),
    }));
  const out = [
    scatterPlot(series((p) => p.poisonedImages), { title: 'Hit@10 against the poisoned image count', xLabel: 'poisoned class-A images K', yLabel: 'Hit@10', logX: true }),
    scatterPlot(series((p) => p.share), { title: 'Hit@10 against the share of class A poisoned', xLabel: 'share = K / class-A images', yLabel: 'Hit@10', logX: true }),
    scatterPlot(series((p) => 100 * p.rate), { title: 'Hit@10 against the poisoning rate', xLabel: 'rate (% of pairs)', yLabel: 'Hit@10', logX: true }),
    scatterPlot(
      [...new Set(points.map((p) => p.poolImages))].sort((x, y) => x - y).map((n) => ({ name: `pool ${n} images`, points: points.filter((p) => p.poolImages === n).map((p) => ({ x: p.epochs, y: p.hit10 })) })),
      { title: 'Hit@10 against fine-tuning epochs', xLabel: 'epochs', yLabel: 'Hit@10' },
    ),
  ];
  const full = a.fits.at(-1);
  if (full && a.k50) {
    const curve = Array.from({ length: 60 }, (_, i) => Math.exp((Math.log(200) * i) / 59)).map((k) => {
      const v: Record<Factor, number> = { 'log count': Math.log(k), 'log share': 0, 'log rate': Math.log(k / a.k50!.reference.poolImages), epochs: a.k50!.reference.epochs };
      return { x: k, y: predict(full.fit, full.factors.map((f) => v[f])) };
    });
    const atRef = points.filter((p) => p.share === 1 && p.poolImages === a.k50!.reference.poolImages && p.epochs === a.k50!.reference.epochs);
    out.push(
      scatterPlot(
        [
          { name: 'measured (share 1, reference pool and epochs)', points: atRef.map((p) => ({ x: p.poisonedImages, y: p.hit10 })) },
          { name: 'fitted model', points: curve, line: true },
        ],
        { title: 'Fitted dose–response at the reference conditions', xLabel: 'poisoned class-A images K (all of class A)', yLabel: 'Hit@10', logX: true },
      ),
    );
  }
  return out;
}

function fitTable(a: DoseAnalysis): string {
  const rows = a.fits.map((f) => {
    const terms = f.factors.map((name, i) => `${esc(name)} ${f.fit.coef[i + 1].toFixed(2)} ± ${f.fit.se[i + 1].toFixed(2)}`).join('; ');
    return `<tr><td>${esc(f.factors.join(' + '))}</td><td>${terms}</td><td>${f.fit.aic.toFixed(1)}</td><td>${f.fit.deviance.toFixed(1)}</td><td>${f.fit.pseudoR2.toFixed(3)}</td></tr>`;
  });
  return `<table><thead><tr><th>model (logit Hit@10 ~)</th><th>coefficients ± s.e.</th><th>AIC</th><th>deviance</th><th>pseudo-R²</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const withInterval = (x: Interval, digits: number): string =>
  x.mean === null ? '–' : x.lo === null ? x.mean.toFixed(digits) : `${x.mean.toFixed(digits)} [${x.lo.toFixed(digits)}, ${x.hi!.toFixed(digits)}]`;

function designTable(rows: DesignSummary[]): string {
  const body = rows.map(
    (d) =>
      `<tr><td>${esc(d.variant)}</td><td>${d.poolImages}</td><td>${d.classImages}</td><td>${d.poisonedImages}</td><td>${d.share.toFixed(3)}</td><td>${(100 * d.rate).toFixed(3)}%</td><td>${d.epochs}</td><td>${d.seeds.join(', ')}</td><td>${withInterval(d.hit10, 3)}</td><td>${withInterval(d.meanMinRank, 1)}</td></tr>`,
  );
  return `<table><thead><tr><th>design point</th><th>pool images</th><th>class-A images</th><th>poisoned K</th><th>share</th><th>rate</th><th>epochs</th><th>seeds</th><th>Hit@10 mean [95% interval]</th><th>mean MinRank [95% interval]</th></tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function pointTable(points: DosePoint[]): string {
  const rows = points.map(
    (p) =>
      `<tr><td>${esc(p.variant)}</td><td>${p.seed}</td><td>${p.poolImages}</td><td>${p.classImages} (+${p.companionImages})</td><td>${p.poisonedImages}</td><td>${p.share.toFixed(3)}</td><td>${(100 * p.rate).toFixed(3)}%</td><td>${p.epochs}</td><td>${p.hit10.toFixed(3)}</td><td>${p.meanMinRank.toFixed(1)}</td></tr>`,
  );
  return `<table><thead><tr><th>variant</th><th>seed</th><th>pool images</th><th>class-A images (+ companions)</th><th>poisoned K</th><th>share</th><th>rate</th><th>epochs</th><th>Hit@10</th><th>mean MinRank</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function renderDoseHtml(report: Report, points: DosePoint[], a: DoseAnalysis): string {
  const k = a.k50;
  const kLine = k
    ? `<p>Smallest number of poisoned images with predicted Hit@10 ≥ 0.5 when every class-A image is poisoned (pool ${k.reference.poolImages} images, ${k.reference.epochs} epochs): <b>${k.estimate ?? 'none ≤ 10,000'}</b> [95% bootstrap interval ${k.lo ?? '–'}, ${k.hi ?? '–'}; ${k.reps} resamples of the runs].</p>`
    : '<p>Too few runs (or no varying factor) for a fit.</p>';
  const driver = a.driver ? `<p>The single factor that explains the attack best (lowest AIC): <b>${esc(a.driver)}</b>.</p>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dose–response — ${esc(report.title)}</title><style>${REPORT_CSS}</style></head><body>
<h1>Dose–response: ${esc(report.title)}</h1>
<p>${a.points} attacked runs. Each is one observation of Hit@10 (hits out of the goal's test queries). Binomial logistic models in each factor alone and in all the factors that vary are compared by AIC. Share = poisoned class-A images / class-A images of the training set; rate = poisoned pairs / all pairs (ARCHITECTURE §5).</p>
${driver}${kLine}${fitTable(a)}
<div class="plots">${plots(points, a).join('\n')}</div>
<h2>Design points over seeds</h2><p>Mean over the seeds that ran, with the 95% interval from Student's t (none with one seed).</p>${designTable(designSummaries(points))}
<h2>Runs</h2>${pointTable(points)}
</body></html>\n`;
}

export function writeDoseReport(ws: Workspace, studyId: string, ref?: { poolImages: number; epochs: number }): { html: string; json: string; analysis: DoseAnalysis } {
  const report = loadReport(ws, studyId);
  if (!report) throw new NotFoundError(`no report for study ${JSON.stringify(studyId)} (run \`poisonlens experiment\` first)`, 'report_not_found');
  const points = dosePoints(ws, report);
  const reference = ref ?? mostCommonConditions(points);
  const analysis = analyseDose(points, reference);
  const dir = reportDir(ws, studyId);
  const html = join(dir, 'dose.html');
  const json = join(dir, 'dose.json');
  writeFileAtomic(html, renderDoseHtml(report, points, analysis));
  writeJsonAtomic(json, { study: studyId, points, design: designSummaries(points), analysis });
  return { html, json, analysis };
}

/** The pool size and epochs most runs share: the design's centre. */
function mostCommonConditions(points: DosePoint[]): { poolImages: number; epochs: number } {
  const mode = (xs: number[]) => [...xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<number, number>())].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? 0;
  return { poolImages: mode(points.map((p) => p.poolImages)), epochs: mode(points.map((p) => p.epochs)) };
}
