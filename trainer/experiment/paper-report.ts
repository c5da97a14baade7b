import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../core/fsutil.js';
import type { Workspace } from '../../core/workspace.js';
import { REPORT_CSS } from './html.js';
import { buildItems, ITEMS, Studies, type ItemResult, type StudyInfo } from './paper-items.js';
import { PAPER_CITATION, PAPER_NOTES, PAPER_SETTING, paperNumber } from './paper-numbers.js';
import { fmtM, VERDICT_RULES, type PaperRow, type RowStatus } from './paper-verdict.js';
import { reportDir } from './runner.js';
import { esc } from './svg.js';

export { buildItems, ITEMS, freezeVariants, studyCommand, type ItemResult, type StudyInfo } from './paper-items.js';
export { judgeRow, itemVerdict, pairedDiff, welchDiff, VERDICT_RULES, type PaperRow, type RowStatus, type Verdict } from './paper-verdict.js';

/**
 * `poisonlens report paper`: every table and figure of the paper (Yang et al., ICML 2023), in the
 * paper's order, with the paper's own numbers (./paper-numbers.ts), ours from the finished
 * studies' report.json (mean [95% t-interval] over seeds, the study and variant they come from;
 * ./paper-items.ts) and a verdict by the explicit rules of ./paper-verdict.ts. It reads finished
 * studies and never trains; a study that has not run shows as missing with the command that
 * runs it. Writes reports/paper/index.html (+ paper.css: no inline styles or scripts, so the page
 * renders under the server's CSP) and reports/paper/paper.json.
 */

export const PAPER_REPORT_FORMAT = 'poisonlens-paper-report/1';
export const PAPER_REPORT_ID = 'paper';

// ------------------------------------------------------------------------------ the report

export interface PaperReport {
  format: typeof PAPER_REPORT_FORMAT;
  createdAt: string;
  paper: { citation: string; setting: string; notes: string[] };
  command: string;
  rules: string[];
  studies: StudyInfo[];
  counts: Record<RowStatus, number>;
  items: Array<Omit<ItemResult, 'charts'>>;
}


export function buildPaperReport(ws: Workspace): { report: PaperReport; items: ItemResult[] } {
  const studies = new Studies(ws);
  const items = buildItems(ws, studies);
  const studyIds = [...new Set(ITEMS.flatMap((d) => d.studies))];
  const counts = { reproduced: 0, 'same direction': 0, 'not reproduced': 0, missing: 0, 'no verdict': 0 } as Record<RowStatus, number>;
  for (const it of items) counts[it.verdict]++;
  const report: PaperReport = {
    format: PAPER_REPORT_FORMAT,
    createdAt: new Date().toISOString(),
    paper: { citation: PAPER_CITATION, setting: PAPER_SETTING, notes: PAPER_NOTES },
    command: 'poisonlens report paper',
    rules: VERDICT_RULES,
    studies: studyIds.map((id) => studies.info(id)),
    counts,
    items: items.map(({ charts: _c, ...rest }) => rest),
  };
  return { report, items };
}

// ------------------------------------------------------------------------------ the page

export const PAPER_CSS = `${REPORT_CSS}
body{max-width:1500px}div.scroll{overflow-x:auto}
.verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.85em;font-weight:600;white-space:nowrap}
.v-reproduced{background:#d5f5e3;color:#145a32}.v-same-direction{background:#fdebd0;color:#7e5109}.v-not-reproduced{background:#fadbd8;color:#78281f}
.v-missing{background:#eaecee;color:#424949}.v-no-verdict{background:#f4f6f7;color:#717d7e}
section.item{margin:2em 0 1em;padding-top:.4em;border-top:2px solid #eee}section.item h2{border:none;margin:.2em 0}
table.rows td.why{white-space:normal;text-align:left;min-width:16em;max-width:28em;color:#444}table.rows td.label{white-space:normal;min-width:14em;max-width:30em}
table.rows td.from{white-space:normal;text-align:left;font-size:.85em;color:#555;min-width:11em;max-width:18em}
tr.key td.label{font-weight:600}.star{color:#b9770e}p.claim{font-style:italic}
dl.setting{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;font-size:.88em}dl.setting dd{margin:0}dl.setting dt{color:#666}
.pair{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}figure{margin:0}figure figcaption{font-size:.8em;color:#555}
table.summary td{white-space:normal;text-align:left}p.missing{color:#78281f}ol.rules li,ul.paper-notes li{font-size:.9em;margin:.3em 0}
details summary{cursor:pointer;font-size:.9em;color:#444}table.rows td.miss{white-space:normal;text-align:left;color:#78281f}p.noplot{font-size:.85em;color:#777}`;

const vClass = (s: RowStatus) => `verdict v-${s.replace(/ /g, '-')}`;
const badge = (s: RowStatus) => `<span class="${vClass(s)}">${esc(s)}</span>`;

function paperText(r: PaperRow): string {
  const p = r.paper;
  const approx = p.approx ? '≈' : '';
  const sd = p.sd != null && p.sd > 0 ? ` (sd ${fmtM(r.metric, p.sd)})` : '';
  if (p.value === null) return p.text ? `<span class="ci">${esc(p.text)}</span>` : '–';
  return `${approx}${esc(fmtM(r.metric, p.value))}${sd}`;
}

function paperRefText(r: PaperRow): string {
  return r.paper.reference === null ? '–' : `${r.paper.approx ? '≈' : ''}${esc(fmtM(r.metric, r.paper.reference))}`;
}

function oursText(r: PaperRow, which: 'value' | 'reference' | 'effect'): string {
  const o = r.ours;
  if (!o) return which === 'value' ? `<span class="ci">${esc(r.missing ?? 'missing')}</span>` : '–';
  const i = o[which];
  if (!i || i.mean === null) return '–';
  const f = (x: number | null) => esc(fmtM(r.metric, x));
  const ci = i.lo !== null && i.hi !== null ? ` <span class="ci">[${f(i.lo)}, ${f(i.hi)}]</span>` : '';
  return `${which === 'effect' && i.mean >= 0 ? '+' : ''}${f(i.mean)}${ci}`;
}

function rowsTable(it: ItemResult): string {
  if (!it.rows.length) return '';
  const head = '<tr><th>row</th><th>paper</th><th>paper reference</th><th>ours (mean [95%])</th><th>our reference</th><th>our effect</th><th>seeds</th><th>from</th><th>verdict</th><th>why</th></tr>';
  const body = it.rows
    .map((r) => {
      const src = r.paper.ids.map((id) => paperNumber(id).source).join('; ');
      const oursCells = r.ours
        ? `<td>${oursText(r, 'value')}</td><td>${oursText(r, 'reference')}</td><td>${oursText(r, 'effect')}</td><td>${r.ours.seeds.length}</td><td class="from"><a href="../${esc(r.ours.study)}/report.json">${esc(r.ours.from)}</a>${r.ours.note ? `<br>${esc(r.ours.note)}` : ''}</td>`
        : `<td class="miss" colspan="5">${esc(r.missing ?? 'missing')}</td>`;
      return `<tr class="${r.key ? 'key' : ''}"><td class="label">${r.key ? '<span class="star" title="key row">★</span> ' : ''}${esc(r.label)}</td><td title="${esc(src)}">${paperText(r)}</td><td>${paperRefText(r)}</td>${oursCells}<td>${r.claim.kind === 'info' || (r.status === 'missing' && !r.ours) ? '' : badge(r.status)}</td><td class="why">${esc(r.status === 'missing' && !r.ours ? '' : r.reason)}</td></tr>`;
    })
    .join('');
  const sources = [...new Set(it.rows.flatMap((r) => r.paper.ids))].map((id) => paperNumber(id));
  const srcList = sources.length ? `<details><summary>The paper's numbers used here (${sources.length}), with their sources</summary><ul>${sources.map((n) => `<li><code>${esc(n.id)}</code> = ${n.approx ? '≈' : ''}${esc(String(n.value))}${n.sd !== undefined ? ` (sd ${esc(String(n.sd))})` : ''} — ${esc(n.source)}</li>`).join('')}</ul></details>` : '';
  return `<div class="scroll"><table class="report rows"><thead>${head}</thead><tbody>${body}</tbody></table></div>${srcList}`;
}

function summaryCell(it: ItemResult, side: 'paper' | 'ours'): string {
  const keys = it.rows.filter((r) => r.key && r.claim.kind !== 'info');
  if (!keys.length) return '–';
  return keys
    .slice(0, 4)
    .map((r) => {
      const label = esc(r.short ?? r.label);
      if (side === 'paper') {
        const v = r.paper.value !== null ? paperText(r) + (r.paper.reference !== null && r.claim.kind !== 'level' ? ` vs ${paperRefText(r)}` : '') : r.paper.text ? esc(r.paper.text) : '–';
        return `${label}: ${v}`;
      }
      if (!r.ours) return `${label}: missing`;
      const v = r.claim.kind === 'contrast' || r.claim.kind === 'noDrop' ? `Δ ${oursText(r, 'effect')}` : oursText(r, 'value');
      return `${label}: ${v}`;
    })
    .join('<br>') + (keys.length > 4 ? `<br><span class="ci">+${keys.length - 4} more</span>` : '');
}

export function summaryRows(items: Array<Pick<ItemResult, 'label' | 'title' | 'verdict' | 'reason' | 'rows' | 'studies'>>): Array<{ item: string; verdict: RowStatus; reason: string; studies: string }> {
  return items.map((it) => ({ item: `${it.label} — ${it.title}`, verdict: it.verdict, reason: it.reason, studies: it.studies.map((s) => s.id).join(', ') }));
}

export function renderPaperHtml(report: PaperReport, items: ItemResult[], opts: { stylesheetHref?: string } = {}): string {
  const css = opts.stylesheetHref ?? 'paper.css';
  const studyRows = report.studies
    .map((s) => `<tr><td><code>${esc(s.id)}</code></td><td>${s.present ? `<a href="../${esc(s.id)}/report.json">report.json</a> · ${esc(s.title ?? '')}` : `<span class="ci">${esc(s.problem ?? 'missing')}</span>`}</td><td>${s.present ? esc(`${s.seeds?.length ?? 0} seed(s), written ${s.createdAt ?? '?'}`) : `missing — run <code>${esc(s.command)}</code>`}</td></tr>`)
    .join('');
  const summary = items
    .map((it) => `<tr><td><a href="#${esc(it.id)}">${esc(it.label)}</a> — ${esc(it.title)}</td><td>${summaryCell(it, 'paper')}</td><td>${summaryCell(it, 'ours')}</td><td>${badge(it.verdict)}</td><td>${esc(it.verdict === 'reproduced' ? '' : it.reason)}</td></tr>`)
    .join('');
  const sections = items.map((it) => {
    const st = it.studies.length
      ? it.studies.map((s) => (s.present ? `<a href="../${esc(s.id)}/report.json"><code>${esc(s.id)}</code></a>` : `<code>${esc(s.id)}</code> (missing — run <code>${esc(s.command)}</code>)`)).join(', ')
      : '—';
    const missingLine = it.verdict === 'missing' ? `<p class="missing">${esc(it.reason)}</p>` : '';
    // Side by side where the paper has a figure (its stated numbers | ours); tables: ours only.
    const oursFig = it.charts.ours.length ? it.charts.ours.join('') : `<p class="noplot">${esc(it.verdict === 'missing' ? 'no plot: ' + it.reason : 'no plot')}</p>`;
    const charts = it.charts.paper.length
      ? `<div class="pair"><figure class="paper">${it.charts.paper.join('')}<figcaption>The paper (the numbers its text states)</figcaption></figure><figure class="ours">${oursFig}<figcaption>Ours</figcaption></figure></div>`
      : it.charts.ours.length
        ? `<div class="charts">${it.charts.ours.join('')}</div>`
        : '';
    const other = it.otherPaperNumbers.length
      ? `<details><summary>Also in the paper, not set beside ours (${it.otherPaperNumbers.length})</summary><ul>${it.otherPaperNumbers.map((n) => `<li>${n.approx ? '≈' : ''}${esc(String(n.value))}${n.sd !== undefined ? ` (sd ${esc(String(n.sd))})` : ''} — ${esc(n.source)}</li>`).join('')}</ul></details>`
      : '';
    const notes = it.notes.length ? `<ul class="notes">${it.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
    return `<section class="item" id="${esc(it.id)}"><h2>${esc(it.label)} — ${esc(it.title)} ${badge(it.verdict)}</h2>
<p class="claim">${esc(it.claim)}</p>${it.verdict !== 'missing' && it.verdict !== 'reproduced' && it.verdict !== 'no verdict' ? `<p>${esc(it.reason)}</p>` : ''}${missingLine}
<dl class="setting"><dt>section</dt><dd>${esc(it.section)}</dd><dt>studies</dt><dd>${st}</dd><dt>the paper's setting</dt><dd>${esc(it.setting.paper)}</dd><dt>ours</dt><dd>${esc(it.setting.ours ?? '—')}</dd></dl>
${notes}${rowsTable(it)}${other}${charts}</section>`;
  });
  const c = report.counts;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Does the paper hold? — PoisonLens</title><link rel="icon" href="data:,"><link rel="stylesheet" href="${esc(css)}"></head>
<body><main class="report">
<h1>Does the paper hold?</h1>
<p class="lead">${esc(report.paper.citation)} Every table and figure, in the paper's order: the paper's own numbers (typed in from its text; figures: the numbers the text states), ours from the finished studies (mean [95% Student-t interval over seeds]), and a verdict by the rules below. Written by <code>${esc(report.command)}</code> at ${esc(report.createdAt)}; it reads finished studies and never trains.</p>
<p>${c.reproduced} reproduced · ${c['same direction']} same direction · ${c['not reproduced']} not reproduced · ${c.missing} missing · ${c['no verdict']} context (no verdict).</p>
<dl class="setting"><dt>the paper</dt><dd>${esc(report.paper.setting)}</dd><dt>ours</dt><dd>a small CLIP trained from scratch on the generated scenes world, fine-tuned on a seeded pool; each item states its study's dataset, recipe, poisoning rate and seeds.</dd></dl>
<h2>Summary</h2>
<table class="report summary"><thead><tr><th>item</th><th>paper (key rows)</th><th>ours (key rows)</th><th>verdict</th><th>why</th></tr></thead><tbody>${summary}</tbody></table>
<h2>Verdict rules</h2><ol class="rules">${report.rules.map((r) => `<li>${esc(r)}</li>`).join('')}</ol>
<h2>Where the paper is unclear</h2><ul class="paper-notes">${report.paper.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>
<h2>Studies read</h2><table class="report"><thead><tr><th>study</th><th>report</th><th>state</th></tr></thead><tbody>${studyRows}</tbody></table>
${sections.join('\n')}
<footer>PoisonLens paper report · format ${esc(report.format)} · every number is in <a href="paper.json">paper.json</a>; the paper's numbers with their sources are in trainer/experiment/paper-numbers.ts.</footer>
</main></body></html>
`;
}

export interface PaperReportFiles {
  dir: string;
  html: string;
  json: string;
  css: string;
  report: PaperReport;
}

/** Writes reports/paper/index.html, paper.css and paper.json (atomically). */
export function writePaperReport(ws: Workspace): PaperReportFiles {
  const { report, items } = buildPaperReport(ws);
  const dir = reportDir(ws, PAPER_REPORT_ID);
  const html = join(dir, 'index.html');
  const json = join(dir, 'paper.json');
  const css = join(dir, 'paper.css');
  writeFileAtomic(css, PAPER_CSS + '\n');
  writeJsonAtomic(json, report);
  writeFileAtomic(html, renderPaperHtml(report, items));
  return { dir, html, json, css, report };
}
