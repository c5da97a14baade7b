import { cellText, formatNumber } from './cells.js';
import type { Interval } from '../../eval/statistics.js';
import type { Report, ReportTable, TableCell, VariantAggregate } from './study-report.js';
import { barChart, esc, fmtVal, heatmapSvg, linePlot, type BarGroup, type Series } from './svg.js';

/**
 * The study report as one HTML page: tables (the paper's Tables 1–4 shapes, all variants,
 * drift) and inline-SVG plots (Hit@K bars per model, MinRank, utility, sweeps, the goal heat
 * map). No scripts and no inline style attributes: the server serves it under its CSP by
 * passing `stylesheetHref` (serve REPORT_CSS there); the standalone report.html written beside
 * report.json inlines REPORT_CSS in a <style> element instead.
 */

export const REPORT_CSS = `body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1em}
p.lead{color:#444}dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;font-size:.9em}dl.meta dt{color:#666}dl.meta dd{margin:0}
table.report{border-collapse:collapse;font-size:.85em;margin:.6em 0 1.2em}table.report th,table.report td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
table.report th:first-child,table.report td:first-child{text-align:left}table.report caption{caption-side:top;text-align:left;font-weight:bold;padding:4px 0}
table.report td .ci{color:#777;font-size:.85em}p.caption{font-size:.85em;color:#555;margin:.2em 0}
.charts{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}svg.chart{max-width:100%;height:auto;background:#fcfcfc;border:1px solid #eee}
ul.notes li{font-size:.9em;color:#444}footer{margin-top:2em;font-size:.8em;color:#777}code{font-size:.9em}`;

export interface RenderOptions {
  /** Link this stylesheet (served pages) instead of inlining REPORT_CSS. */
  stylesheetHref?: string;
}

function fmtCell(c: TableCell): string {
  const v = c.value;
  if (v === null || v === undefined || typeof v === 'string' || typeof v === 'number') return esc(cellText(c));
  return fmtInterval(v, (x) => formatNumber(x, c.format));
}

function fmtInterval(v: Interval, f: (x: number) => string): string {
  if (v.mean === null) return '–';
  const ci = v.lo !== null && v.hi !== null ? ` <span class="ci">[${f(v.lo)}, ${f(v.hi)}]</span>` : '';
  return `${f(v.mean)}${ci}`;
}

function table(t: ReportTable): string {
  const head = `<tr><th></th>${t.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const rows = t.rows.map((r) => `<tr><td>${esc(r.label)}</td>${r.cells.map((c) => `<td>${fmtCell(c)}</td>`).join('')}</tr>`).join('');
  return `<table class="report" id="${esc(t.id)}"><caption>${esc(t.title)}</caption><thead>${head}</thead><tbody>${rows}</tbody></table><p class="caption">${esc(t.caption)}</p>`;
}

const bar = (name: string, i: Interval | null | undefined) => ({ name, value: i?.mean ?? null, lo: i?.lo ?? null, hi: i?.hi ?? null });

function goalCharts(vs: VariantAggregate[]): string {
  const plain = vs.filter((v) => v.setting === null);
  const goals = [...new Set(plain.flatMap((v) => v.goals.map((g) => g.goal)))];
  const out: string[] = [];
  for (const goal of goals) {
    const withGoal = plain.filter((v) => v.goals.some((g) => g.goal === goal));
    const ks = ['1', '5', '10'];
    const entries: Array<{ name: string; hit: Record<string, Interval>; minRank: Interval }> = [];
    for (const v of withGoal) {
      const g = v.goals.find((x) => x.goal === goal)!;
      entries.push({ name: v.attack ? v.label : `${v.label} (reference)`, hit: g.model.hit, minRank: g.model.minRank.mean });
    }
    const withBaseline = withGoal.find((v) => v.attack) ?? withGoal[0];
    const bg = withBaseline.goals.find((x) => x.goal === goal)!;
    entries.push({ name: 'random-text baseline', hit: bg.baseline.hit, minRank: bg.baseline.minRank.mean });
    const groups: BarGroup[] = ks.map((k) => ({ label: `Hit@${k}`, bars: entries.map((e) => bar(e.name, e.hit[k])) }));
    out.push(barChart(groups, { title: `Hit@K per model — ${goal}`, yLabel: 'Hit@K (fraction of queries)', values: true }));
    const maxRank = Math.max(1, ...entries.map((e) => e.minRank.hi ?? e.minRank.mean ?? 0));
    out.push(
      barChart([{ label: 'mean MinRank', bars: entries.map((e) => bar(e.name, e.minRank)) }], {
        title: `Mean MinRank per model — ${goal} (lower = stronger attack)`,
        yLabel: 'mean MinRank (log scale)',
        scale: { kind: 'log1p', max: Math.pow(10, Math.ceil(Math.log10(maxRank + 1))) },
        values: true,
      }),
    );
  }
  return out.join('\n');
}

function utilityChart(vs: VariantAggregate[]): string {
  const u = vs.filter((v) => v.utility && v.setting === null);
  if (!u.length) return '';
  const cols: Array<[string, 'tr' | 'ir', string]> = [
    ['TR R@1', 'tr', '1'],
    ['TR R@5', 'tr', '5'],
    ['TR R@10', 'tr', '10'],
    ['IR R@1', 'ir', '1'],
    ['IR R@5', 'ir', '5'],
    ['IR R@10', 'ir', '10'],
  ];
  return barChart(
    cols.map(([label, side, k]) => ({ label, bars: u.map((v) => bar(v.label, v.utility!.model[side][k])) })),
    { title: 'Utility per model (Recall@K over the test split)', yLabel: 'Recall@K' },
  );
}

function sweepCharts(report: Report): string {
  return report.sweeps
    .map((s) => {
      const withRate = (s.field === 'poisonImages' || s.field === 'rate') && s.points.every((p) => p.poisonRate?.mean != null);
      const xs = s.points.map((p) => {
        const v = typeof p.value === 'number' ? fmtVal(p.value) : String(p.value);
        return withRate && s.field === 'poisonImages' ? `${v} (${(p.poisonRate!.mean! * 100).toFixed(2)}%)` : v;
      });
      const hitSeries: Series[] = ['1', '5', '10'].map((k) => ({ name: `poisoned Hit@${k}`, points: s.points.map((p) => pt(p.hit[k])) }));
      hitSeries.push({ name: 'baseline Hit@10', points: s.points.map((p) => pt(p.baselineHit10)), dash: '5 3' });
      if (s.points.some((p) => p.cleanHit10)) hitSeries.push({ name: 'clean model Hit@10', points: s.points.map((p) => pt(p.cleanHit10)), dash: '2 3' });
      const xLabel = withRate && s.field === 'poisonImages' ? 'poisoned images per goal (achieved poisoning rate)' : s.field;
      const maxRank = Math.max(1, ...s.points.map((p) => p.minRank.hi ?? p.minRank.mean ?? 0));
      const charts = [
        linePlot(xs, hitSeries, { title: `${s.label}: Hit@K vs ${s.field}${s.goal ? ` (${s.goal})` : ''}`, yLabel: 'Hit@K', xLabel }),
        linePlot(xs, [{ name: 'mean MinRank', points: s.points.map((p) => pt(p.minRank)) }], {
          title: `${s.label}: MinRank vs ${s.field}`,
          yLabel: 'mean MinRank (log scale)',
          xLabel,
          scale: { kind: 'log1p', max: Math.pow(10, Math.ceil(Math.log10(maxRank + 1))) },
        }),
      ];
      if (s.points.some((p) => p.ir10 || p.tr10)) {
        charts.push(
          linePlot(
            xs,
            [
              { name: 'IR R@10', points: s.points.map((p) => pt(p.ir10)) },
              { name: 'TR R@10', points: s.points.map((p) => pt(p.tr10)) },
            ],
            { title: `${s.label}: utility vs ${s.field}`, yLabel: 'Recall@10', xLabel },
          ),
        );
      }
      const rows = s.points
        .map(
          (p, i) =>
            `<tr><td>${esc(xs[i])}</td><td>${fmtCell({ value: p.poisonRate, format: 'rate' })}</td>${['1', '5', '10'].map((k) => `<td>${fmtCell({ value: p.hit[k] ?? null })}</td>`).join('')}<td>${fmtCell({ value: p.minRank, format: 'rank' })}</td><td>${fmtCell({ value: p.baselineHit10 })}</td><td>${fmtCell({ value: p.ir10 })}</td><td>${fmtCell({ value: p.tr10 })}</td></tr>`,
        )
        .join('');
      return `<h3>${esc(s.label)} — sweep over ${esc(s.field)}</h3><div class="charts">${charts.join('')}</div><table class="report sweep"><thead><tr><th>${esc(s.field)}</th><th>poison rate</th><th>Hit@1</th><th>Hit@5</th><th>Hit@10</th><th>MinRank</th><th>baseline Hit@10</th><th>IR R@10</th><th>TR R@10</th></tr></thead><tbody>${rows}</tbody></table>`;
    })
    .join('\n');
}

const p3 = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));
const t2 = (t: number) => (Number.isFinite(t) ? t.toFixed(2) : '±∞');

/** One line per attacked variant: the across-seed test is the result; a one-run test is only descriptive. */
function driftResults(vs: VariantAggregate[]): string {
  const lines = vs
    .filter((v) => v.drift && v.attack)
    .map((v) => {
      const d = v.drift!;
      const diff = fmtCell({ value: d.textMinusImage, format: 'rate' });
      const a = d.acrossSeeds;
      const result = a
        ? `paired two-tailed t-test across ${a.n} seeds: t(${a.df}) = ${t2(a.t)}, p = ${p3(a.p)}`
        : `${d.perSeed.length} seed${d.perSeed.length === 1 ? '' : 's'}: no test across runs (needs ≥ 2)`;
      const one = d.perSeed[0]?.test;
      const descriptive = one ? `; over the test images of seed ${d.perSeed[0].seed} (descriptive, one run): t(${one.df}) = ${t2(one.t)}, p = ${p3(one.p)}` : '';
      const name = v.label + (v.setting ? ` (${v.setting.field} = ${String(v.setting.value)})` : '');
      return `<li>${esc(name)}: text − image drift ${diff}; ${esc(result)}${esc(descriptive)}</li>`;
    });
  return lines.length ? `<ul class="notes">${lines.join('')}</ul>` : '';
}

const pt = (i: Interval | null | undefined) => ({ y: i?.mean ?? null, lo: i?.lo ?? null, hi: i?.hi ?? null });

/** The report page. Every text from the report is escaped. */
export function renderReportHtml(report: Report, opts: RenderOptions = {}): string {
  const style = opts.stylesheetHref ? `<link rel="stylesheet" href="${esc(opts.stylesheetHref)}">` : `<style>${REPORT_CSS}</style>`;
  const primary = report.variants.filter((v) => v.dataset === (report.variants[0]?.dataset ?? report.dataset.name));
  const others = report.variants.filter((v) => !primary.includes(v));
  const seeds = report.study.seeds;
  const ft = report.study.finetune as Record<string, unknown>;
  const meta: Array<[string, string]> = [
    ['dataset', `${report.dataset.name} (manifest ${report.dataset.manifestSha256.slice(0, 12)}, ${report.dataset.classes.length} classes)`],
    ['base model', `${report.base.model}${report.base.wallSeconds !== null ? ` (trained in ${Math.round(report.base.wallSeconds)} s, ${report.base.steps} steps)` : ''}`],
    ['fine-tuning', Object.entries(ft).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${String(v)}`).join(', ')],
    ['seeds', `${seeds.length} (${seeds.join(', ')}); intervals are 95% Student-t over seeds`],
    ['steps', `${report.run.steps.total} (${report.run.steps.built} built, ${report.run.steps.reused} reused) in ${Math.round(report.run.wallSeconds)} s`],
    ['study file', `${report.study.file ?? '–'} (sha256 ${report.study.sha256.slice(0, 12)})`],
    ['written', report.createdAt],
  ];
  const sections: string[] = [];
  sections.push(`<h2>Tables</h2>${report.tables.map(table).join('\n')}`);
  const drift = driftResults(primary);
  if (drift) sections.push(`<h2>Encoder drift: text vs image</h2>${drift}`);
  const charts = goalCharts(primary);
  if (charts) sections.push(`<h2>Attack success per model</h2><div class="charts">${charts}</div>`);
  const util = utilityChart(primary);
  if (util) sections.push(`<h2>Utility</h2><div class="charts">${util}</div>`);
  if (report.sweeps.length) sections.push(`<h2>Sweeps</h2>${sweepCharts(report)}`);
  if (report.heatmap) {
    const h = report.heatmap;
    sections.push(
      `<h2>All goals A&gt;B</h2><div class="charts">${heatmapSvg(h.classes, h.classes, h.minRank, {
        title: `Mean MinRank of every goal A>B (${h.group}); rows A, columns B`,
        legend: 'dark = low MinRank (attack succeeded); grey = not evaluated',
        log: true,
      })}${heatmapSvg(h.classes, h.classes, h.baselineMinRank, { title: 'Random-text baseline MinRank (same targets)', legend: 'for comparison', log: true })}</div>`,
    );
  }
  if (others.length) {
    sections.push(
      `<h2>Other evaluation datasets</h2><table class="report"><thead><tr><th>variant</th><th>dataset</th><th>goal</th><th>Hit@10</th><th>MinRank</th><th>baseline Hit@10</th></tr></thead><tbody>${others
        .flatMap((v) => v.goals.map((g) => `<tr><td>${esc(v.label)}</td><td>${esc(v.dataset)}</td><td>${esc(g.goal)}</td><td>${fmtCell({ value: g.model.hit['10'] ?? null })}</td><td>${fmtCell({ value: g.model.minRank.mean, format: 'rank' })}</td><td>${fmtCell({ value: g.baseline.hit['10'] ?? null })}</td></tr>`))
        .join('')}</tbody></table>`,
    );
  }
  const runRows = report.runs
    .map(
      (r) =>
        `<tr><td>${esc(r.variant)}</td><td>${r.seed}</td><td><code>${esc(r.model)}</code></td><td>${r.trainset ? `<code>${esc(r.trainset)}</code>` : '–'}</td><td>${r.poison ? r.poison.rate.toPrecision(3) : '–'}</td><td>${r.train?.wallSeconds != null ? Math.round(r.train.wallSeconds) : '–'}</td></tr>`,
    )
    .join('');
  sections.push(
    `<h2>Runs</h2><table class="report runs"><thead><tr><th>variant</th><th>seed</th><th>model</th><th>training set</th><th>poison rate</th><th>train s</th></tr></thead><tbody>${runRows}</tbody></table>`,
  );
  const notes = report.notes.length ? `<ul class="notes">${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(report.title)} — PoisonLens study</title>${style}</head>
<body><main class="report">
<h1>${esc(report.title)}</h1>
${report.description ? `<p class="lead">${esc(report.description)}</p>` : ''}
<dl class="meta">${meta.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
${notes}
${sections.join('\n')}
<footer>Study <code>${esc(report.id)}</code> · report format ${esc(report.format)} · every number is in report.json; per-query ranks in the evaluation files it names.</footer>
</main></body></html>
`;
}
