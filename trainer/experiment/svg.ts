/**
 * Small inline-SVG charts for study reports: grouped bars with 95% whiskers, line plots with one
 * point per setting, and a heat map. Only SVG presentation attributes are used (no style
 * attributes, no scripts), so the pages render under a CSP without inline styles or scripts.
 */

export const PALETTE = ['#c0392b', '#2471a3', '#7d3c98', '#1e8449', '#b9770e', '#5d6d7e', '#d35400', '#117a65', '#a93226', '#2e4053'];

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const n2 = (x: number) => (Math.round(x * 100) / 100).toString();

export interface Bar {
  name: string;
  value: number | null;
  lo?: number | null;
  hi?: number | null;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface Scale {
  kind: 'linear' | 'log1p';
  max: number;
}

function scaleY(s: Scale, h: number): (v: number) => number {
  const t = (v: number) => (s.kind === 'log1p' ? Math.log10(1 + Math.max(0, v)) : v);
  const top = t(s.max) || 1;
  return (v) => h - (Math.min(t(v), top) / top) * h;
}

function ticks(s: Scale): number[] {
  if (s.kind === 'log1p') {
    const out = [0];
    for (let p = 1; p <= s.max * 1.0001; p *= 10) out.push(p);
    return out;
  }
  const step = s.max <= 1 ? 0.25 : Math.pow(10, Math.floor(Math.log10(s.max)));
  const out: number[] = [];
  for (let v = 0; v <= s.max + 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

function fmtTick(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function legend(names: string[], x: number, y: number, dashes: Array<string | null> = []): string {
  return names
    .map((name, i) => {
      const yy = y + i * 16;
      const dash = dashes[i] ? ` stroke-dasharray="${dashes[i]}"` : '';
      return `<line x1="${x}" y1="${yy - 4}" x2="${x + 18}" y2="${yy - 4}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="6"${dash}/><text x="${x + 24}" y="${yy}" font-size="11" fill="#222">${esc(name)}</text>`;
    })
    .join('');
}

export interface ChartOptions {
  title: string;
  yLabel: string;
  scale?: Scale;
  /** Print each bar's value above it. */
  values?: boolean;
  className?: string;
}

/** Grouped bars (e.g. groups Hit@1/5/10, one bar per model) with 95% interval whiskers. */
export function barChart(groups: BarGroup[], o: ChartOptions): string {
  const names = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const maxV = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => b.value ?? 0)));
  const scale: Scale = o.scale ?? { kind: 'linear', max: maxV <= 1 ? 1 : niceMax(Math.max(maxV, ...groups.flatMap((g) => g.bars.map((b) => b.hi ?? 0)))) };
  const barW = names.length <= 3 ? 20 : 14;
  const gap = 18;
  const groupW = Math.max(58, names.length * barW + gap);
  const left = 48;
  const plotH = 180;
  const top = 28;
  const legendW = Math.min(300, 30 + 6.8 * Math.max(...names.map((n) => n.length)));
  const width = left + groups.length * groupW + 12 + legendW;
  const height = top + plotH + 44;
  const y = scaleY(scale, plotH);
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="16" font-size="13" font-weight="bold" fill="#222">${esc(o.title)}</text>`);
  for (const t of ticks(scale)) {
    const yy = top + y(t);
    parts.push(`<line x1="${left}" y1="${n2(yy)}" x2="${left + groups.length * groupW}" y2="${n2(yy)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 4}" y="${n2(yy + 4)}" font-size="10" text-anchor="end" fill="#555">${fmtTick(t)}</text>`);
  }
  parts.push(`<text x="12" y="${top + plotH / 2}" font-size="11" fill="#333" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">${esc(o.yLabel)}</text>`);
  groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - names.length * barW) / 2;
    g.bars.forEach((b) => {
      const bi = names.indexOf(b.name);
      const x = gx + bi * barW;
      if (b.value === null || !Number.isFinite(b.value)) {
        parts.push(`<text x="${n2(x + barW / 2)}" y="${top + plotH - 3}" font-size="9" text-anchor="middle" fill="#999">–</text>`);
        return;
      }
      const yy = top + y(b.value);
      parts.push(
        `<rect x="${n2(x + 1)}" y="${n2(yy)}" width="${barW - 2}" height="${n2(Math.max(0, top + plotH - yy))}" fill="${PALETTE[bi % PALETTE.length]}"><title>${esc(`${b.name} — ${g.label}: ${fmtVal(b.value)}${b.lo != null && b.hi != null ? ` [${fmtVal(b.lo)}, ${fmtVal(b.hi)}]` : ''}`)}</title></rect>`,
      );
      if (b.lo != null && b.hi != null && Number.isFinite(b.lo) && Number.isFinite(b.hi)) {
        const cx = x + barW / 2;
        const y1 = top + y(Math.max(0, b.lo));
        const y2 = top + y(Math.min(scale.max, b.hi));
        parts.push(`<path d="M${n2(cx)} ${n2(y1)}V${n2(y2)}M${n2(cx - 3)} ${n2(y1)}h6M${n2(cx - 3)} ${n2(y2)}h6" stroke="#111" stroke-width="1" fill="none"/>`);
      }
      if (o.values && names.length <= 4) parts.push(`<text x="${n2(x + barW / 2)}" y="${n2(yy - 3)}" font-size="8" text-anchor="middle" fill="#333">${fmtVal(b.value)}</text>`);
    });
    parts.push(`<text x="${n2(gx + (names.length * barW) / 2)}" y="${top + plotH + 14}" font-size="11" text-anchor="middle" fill="#222">${esc(g.label)}</text>`);
  });
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + groups.length * groupW}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(legend(names, left + groups.length * groupW + 14, top + 8));
  return svg(width, height, o.title, parts, o.className ?? 'chart bars');
}

export interface Series {
  name: string;
  points: Array<{ y: number | null; lo?: number | null; hi?: number | null }>;
  dash?: string | null;
}

/** A line plot with categorical x (one point per setting, evenly spaced) and 95% whiskers. */
export function linePlot(xLabels: string[], series: Series[], o: ChartOptions & { xLabel: string }): string {
  const maxV = Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p.y ?? 0)));
  const scale: Scale = o.scale ?? { kind: 'linear', max: maxV <= 1 ? 1 : niceMax(Math.max(maxV, ...series.flatMap((s) => s.points.map((p) => p.hi ?? 0)))) };
  const left = 48;
  const top = 28;
  const plotH = 180;
  const step = Math.max(44, Math.min(80, 480 / Math.max(1, xLabels.length)));
  const plotW = step * Math.max(1, xLabels.length - 1) + 24;
  const legendW = Math.min(300, 30 + 6.8 * Math.max(...series.map((s) => s.name.length)));
  const width = left + plotW + 16 + legendW;
  const height = top + plotH + 54;
  const y = scaleY(scale, plotH);
  const x = (i: number) => left + 12 + i * step;
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="16" font-size="13" font-weight="bold" fill="#222">${esc(o.title)}</text>`);
  for (const t of ticks(scale)) {
    const yy = top + y(t);
    parts.push(`<line x1="${left}" y1="${n2(yy)}" x2="${left + plotW}" y2="${n2(yy)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 4}" y="${n2(yy + 4)}" font-size="10" text-anchor="end" fill="#555">${fmtTick(t)}</text>`);
  }
  parts.push(`<text x="12" y="${top + plotH / 2}" font-size="11" fill="#333" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">${esc(o.yLabel)}</text>`);
  xLabels.forEach((l, i) => parts.push(`<text x="${n2(x(i))}" y="${top + plotH + 14}" font-size="10" text-anchor="middle" fill="#222">${esc(l)}</text>`));
  parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 32}" font-size="11" text-anchor="middle" fill="#333">${esc(o.xLabel)}</text>`);
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`);
  series.forEach((s, si) => {
    const colour = PALETTE[si % PALETTE.length];
    const pts = s.points.map((p, i) => (p.y === null || !Number.isFinite(p.y) ? null : ([x(i), top + y(p.y)] as const)));
    let d = '';
    let pen = false;
    for (const p of pts) {
      if (!p) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${n2(p[0])} ${n2(p[1])}`;
      pen = true;
    }
    if (d) parts.push(`<path d="${d}" stroke="${colour}" stroke-width="2" fill="none"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    s.points.forEach((p, i) => {
      if (p.y === null || !Number.isFinite(p.y)) return;
      const cx = x(i);
      const cy = top + y(p.y);
      if (p.lo != null && p.hi != null && Number.isFinite(p.lo) && Number.isFinite(p.hi)) {
        parts.push(`<path d="M${n2(cx)} ${n2(top + y(Math.max(0, p.lo)))}V${n2(top + y(Math.min(scale.max, p.hi)))}" stroke="${colour}" stroke-width="1" fill="none"/>`);
      }
      parts.push(`<circle cx="${n2(cx)}" cy="${n2(cy)}" r="3" fill="${colour}"><title>${esc(`${s.name} @ ${xLabels[i]}: ${fmtVal(p.y)}`)}</title></circle>`);
    });
  });
  parts.push(legend(series.map((s) => s.name), left + plotW + 16, top + 8, series.map((s) => s.dash ?? null)));
  return svg(width, height, o.title, parts, o.className ?? 'chart lines');
}

/** A square heat map of values (low = strong attack = dark), labelled rows/columns. */
export function heatmapSvg(rows: string[], cols: string[], values: Array<Array<number | null>>, o: { title: string; legend: string; log?: boolean }): string {
  const cell = 22;
  const left = 96;
  const top = 100;
  const flat = values.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const maxV = Math.max(1, ...flat);
  const t = (v: number) => (o.log ? Math.log10(1 + v) / Math.log10(1 + maxV) : v / maxV);
  const colour = (v: number) => {
    // 0 → dark red, 1 → pale yellow.
    const f = Math.min(1, Math.max(0, t(v)));
    const r = Math.round(140 + f * (255 - 140));
    const g = Math.round(20 + f * (245 - 20));
    const b = Math.round(20 + f * (200 - 20));
    return `rgb(${r},${g},${b})`;
  };
  const parts: string[] = [];
  parts.push(`<text x="4" y="16" font-size="13" font-weight="bold" fill="#222">${esc(o.title)}</text>`);
  cols.forEach((c, j) => {
    const x = left + j * cell + cell / 2;
    parts.push(`<text x="${x}" y="${top - 6}" font-size="10" fill="#222" transform="rotate(-60 ${x} ${top - 6})">${esc(c)}</text>`);
  });
  rows.forEach((r, i) => {
    parts.push(`<text x="${left - 4}" y="${top + i * cell + cell / 2 + 4}" font-size="10" text-anchor="end" fill="#222">${esc(r)}</text>`);
    cols.forEach((c, j) => {
      const v = values[i]?.[j];
      const x = left + j * cell;
      const y = top + i * cell;
      if (v === null || v === undefined || !Number.isFinite(v)) {
        parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="#eee" stroke="#fff"/>`);
        return;
      }
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${colour(v)}" stroke="#fff"><title>${esc(`${r} > ${c}: ${fmtVal(v)}`)}</title></rect>`);
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 3}" font-size="7" text-anchor="middle" fill="${t(v) < 0.45 ? '#fff' : '#222'}">${v < 10 ? v.toFixed(1) : Math.round(v)}</text>`);
    });
  });
  const h = top + rows.length * cell + 40;
  parts.push(`<text x="${left}" y="${h - 14}" font-size="11" fill="#333">${esc(o.legend)}</text>`);
  return svg(left + cols.length * cell + 20, h, o.title, parts, 'chart heatmap');
}

function svg(wIn: number, h: number, title: string, parts: string[], className: string): string {
  const w = Math.max(wIn, 60 + title.length * 7.4);
  return `<svg xmlns="http://www.w3.org/2000/svg" class="${esc(className)}" width="${Math.ceil(w)}" height="${Math.ceil(h)}" viewBox="0 0 ${Math.ceil(w)} ${Math.ceil(h)}" role="img" aria-label="${esc(title)}" font-family="system-ui, sans-serif">${parts.join('')}</svg>`;
}

function niceMax(v: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function fmtVal(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 10 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

export interface ScatterSeries {
  name: string;
  points: Array<{ x: number; y: number; label?: string }>;
  /** Drawn as a line through the points in x order (a fitted curve) instead of dots. */
  line?: boolean;
}

/** Points on a numeric x axis (log10 when `logX`), y a fraction in [0, 1]. */
export function scatterPlot(series: ScatterSeries[], o: { title: string; xLabel: string; yLabel: string; logX?: boolean }): string {
  const xs = series.flatMap((s) => s.points.map((p) => p.x)).filter((v) => Number.isFinite(v) && (!o.logX || v > 0));
  const tx = (v: number) => (o.logX ? Math.log10(v) : v);
  const lo = xs.length ? Math.min(...xs.map(tx)) : 0;
  const hi = xs.length ? Math.max(...xs.map(tx)) : 1;
  const span = hi - lo || 1;
  const left = 48, top = 28, plotW = 360, plotH = 180;
  const legendW = Math.min(300, 30 + 6.8 * Math.max(1, ...series.map((s) => s.name.length)));
  const x = (v: number) => left + 10 + ((tx(v) - lo) / span) * (plotW - 20);
  const y = (v: number) => top + plotH - Math.max(0, Math.min(1, v)) * plotH;
  const parts: string[] = [`<text x="${left}" y="16" font-size="13" font-weight="bold" fill="#222">${esc(o.title)}</text>`];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${left}" y1="${n2(y(t))}" x2="${left + plotW}" y2="${n2(y(t))}" stroke="#ddd"/><text x="${left - 4}" y="${n2(y(t) + 4)}" font-size="10" text-anchor="end" fill="#555">${t}</text>`);
  }
  for (const t of axisTicks(lo, hi, o.logX === true)) {
    parts.push(`<text x="${n2(x(t))}" y="${top + plotH + 14}" font-size="10" text-anchor="middle" fill="#222">${fmtVal(t)}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 32}" font-size="11" text-anchor="middle" fill="#333">${esc(o.xLabel)}${o.logX ? ' (log scale)' : ''}</text>`);
  parts.push(`<text x="12" y="${top + plotH / 2}" font-size="11" fill="#333" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">${esc(o.yLabel)}</text>`);
  series.forEach((s, si) => {
    const colour = PALETTE[si % PALETTE.length];
    const pts = s.points.filter((p) => Number.isFinite(p.x) && (!o.logX || p.x > 0) && Number.isFinite(p.y));
    if (s.line) {
      const d = [...pts].sort((a, b) => a.x - b.x).map((p, i) => `${i ? 'L' : 'M'}${n2(x(p.x))} ${n2(y(p.y))}`).join('');
      if (d) parts.push(`<path d="${d}" stroke="${colour}" stroke-width="2" fill="none"/>`);
      return;
    }
    for (const p of pts) parts.push(`<circle cx="${n2(x(p.x))}" cy="${n2(y(p.y))}" r="3.5" fill="${colour}" fill-opacity="0.75"><title>${esc(p.label ?? `${s.name}: ${fmtVal(p.x)}, ${fmtVal(p.y)}`)}</title></circle>`);
  });
  parts.push(legend(series.map((s) => s.name), left + plotW + 16, top + 8));
  return svg(left + plotW + 16 + legendW, top + plotH + 54, o.title, parts, 'chart scatter');
}

function axisTicks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) for (const m of [1, 2, 5]) {
      const v = m * Math.pow(10, e);
      if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) out.push(v);
    }
    return out;
  }
  const step = niceMax((hi - lo) / 4 || 1);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}
