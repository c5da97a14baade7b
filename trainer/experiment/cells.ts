import type { Interval } from '../../eval/statistics.js';
import type { ReportTable, TableCell } from './study-report.js';

/** How a report cell's number is written (the HTML page and the markdown tables share it). */
export function formatNumber(x: number, format: TableCell['format']): string {
  if (!Number.isFinite(x)) return '–';
  if (format === 'rank') return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2);
  if (format === 'rate') return x.toPrecision(3);
  if (format === 'p') return x < 1e-4 ? x.toExponential(1) : x.toFixed(4);
  return x.toFixed(3);
}

/** A cell as plain text: a number, or a mean with its 95% interval in brackets. */
export function cellText(c: TableCell): string {
  const v = c.value;
  if (v === null || v === undefined) return '–';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v, c.format);
  return intervalText(v, c.format);
}

export function intervalText(v: Interval, format: TableCell['format']): string {
  if (v.mean === null) return '–';
  const ci = v.lo !== null && v.hi !== null ? ` [${formatNumber(v.lo, format)}, ${formatNumber(v.hi, format)}]` : '';
  return `${formatNumber(v.mean, format)}${ci}`;
}

/** A report table as a GitHub-flavoured markdown table (for the README and notes). */
export function tableMarkdown(t: ReportTable): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`**${esc(t.title)}**`, '', `| model | ${t.columns.map(esc).join(' | ')} |`, `|---|${t.columns.map(() => '---').join('|')}|`];
  for (const r of t.rows) lines.push(`| ${esc(r.label)} | ${r.cells.map((c) => esc(cellText(c))).join(' | ')} |`);
  return lines.join('\n');
}
