import type { Style } from './artsets.js';
import type { Rng } from '../../core/random.js';

/**
 * Sofa and dining table: no emoji shows either on its own (the closest are "couch and lamp" and
 * "fork and knife with plate"), so they are drawn here as SVG from simple shapes, in the same
 * three looks as the emoji sets (flat fills; glossy gradients with a highlight; cartoon outlines),
 * and rasterised by the same pipeline. Colour and material are part of the variant, so captions
 * can say "a red sofa" or "a wooden dining table" truthfully.
 */
export interface DrawnVariant {
  kind: 'sofa' | 'table';
  style: Style;
  /** sofa: upholstery colour name; table: "wooden" or "white" */
  colour: string;
  /** sofa: 2 or 3 seats */
  seats?: number;
  /** table: tablecloth colour name, or null */
  cloth?: string | null;
  /** table: plates and a glass laid on it */
  laid?: boolean;
}

const SOFA_COLOURS: Record<string, string> = {
  red: '#c62f2f', blue: '#2f5fc6', green: '#3b9444', grey: '#8a8f98', yellow: '#e3b92c', brown: '#8a5a32', purple: '#7d45b0', orange: '#e07a24',
};
const TABLE_WOODS: Record<string, string> = { wooden: '#9c6b3c', white: '#eeeae2' };
const CLOTHS: Record<string, string> = { red: '#cf3a3a', blue: '#3d6fd1', green: '#46a05a', yellow: '#e6c23a' };

export function pickDrawnVariant(kind: 'sofa' | 'table', style: Style, rng: Rng): DrawnVariant {
  if (kind === 'sofa') return { kind, style, colour: rng.pick(Object.keys(SOFA_COLOURS)), seats: rng.pick([2, 3]) };
  const colour = rng.pick(Object.keys(TABLE_WOODS));
  const cloth = rng.chance(0.4) ? rng.pick(Object.keys(CLOTHS)) : null;
  return { kind, style, colour, cloth, laid: rng.chance(0.5) };
}

/** Every variant there is, so the atlas can rasterise them all up front. */
export function allDrawnVariants(): DrawnVariant[] {
  const out: DrawnVariant[] = [];
  for (const style of ['glossy', 'flat', 'cartoon'] as Style[]) {
    for (const colour of Object.keys(SOFA_COLOURS)) for (const seats of [2, 3]) out.push({ kind: 'sofa', style, colour, seats });
    for (const colour of Object.keys(TABLE_WOODS))
      for (const cloth of [null, ...Object.keys(CLOTHS)]) for (const laid of [false, true]) out.push({ kind: 'table', style, colour, cloth, laid });
  }
  return out;
}

/** A stable key for the raster cache. */
export function drawnKey(v: DrawnVariant): string {
  return v.kind === 'sofa' ? `sofa:${v.colour}:${v.seats}:${v.style}` : `table:${v.colour}:${v.cloth ?? 'bare'}:${v.laid ? 'laid' : 'empty'}:${v.style}`;
}

function shade(hex: string, f: number): string {
  const n = parseInt(hex.slice(1), 16);
  const ch = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) => Math.max(0, Math.min(255, Math.round(f < 0 ? c * (1 + f) : c + (255 - c) * f))));
  return `#${ch.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

/** Paint for one shape in the variant's style: fill (maybe a gradient) and outline. */
class Painter {
  private defs: string[] = [];
  private n = 0;
  constructor(private readonly style: Style) {}
  fill(colour: string): string {
    const stroke = this.style === 'cartoon' ? ' stroke="#1d1d1d" stroke-width="2.4" stroke-linejoin="round"' : '';
    if (this.style !== 'glossy') return `fill="${colour}"${stroke}`;
    const id = `g${this.n++}`;
    this.defs.push(`<linearGradient id="${id}" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${shade(colour, 0.35)}"/><stop offset="1" stop-color="${shade(colour, -0.3)}"/></linearGradient>`);
    return `fill="url(#${id})"`;
  }
  highlight(x: number, y: number, rx: number, ry: number): string {
    return this.style === 'glossy' ? `<ellipse cx="${x}" cy="${y}" rx="${rx}" ry="${ry}" fill="#ffffff" fill-opacity="0.35"/>` : '';
  }
  wrap(body: string): string {
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><defs>${this.defs.join('')}</defs>${body}</svg>`;
  }
}

export function drawnSvg(v: DrawnVariant): string {
  return v.kind === 'sofa' ? sofaSvg(v) : tableSvg(v);
}

function sofaSvg(v: DrawnVariant): string {
  const p = new Painter(v.style);
  const c = SOFA_COLOURS[v.colour];
  const seats = v.seats ?? 3;
  const parts: string[] = [];
  // legs, then back, seat, cushions, arms: later shapes cover earlier ones
  for (const x of [14, 80]) parts.push(`<rect x="${x}" y="76" width="6" height="12" rx="1" ${p.fill('#3b2a1e')}/>`);
  parts.push(`<rect x="12" y="26" width="76" height="36" rx="9" ${p.fill(shade(c, -0.12))}/>`);
  const w = 64 / seats;
  for (let i = 0; i < seats; i++) parts.push(`<rect x="${18 + i * w + 1}" y="31" width="${w - 2}" height="28" rx="6" ${p.fill(c)}/>`);
  parts.push(`<rect x="10" y="58" width="80" height="22" rx="5" ${p.fill(c)}/>`);
  for (let i = 0; i < seats; i++) parts.push(`<rect x="${18 + i * w + 1}" y="56" width="${w - 2}" height="10" rx="4" ${p.fill(shade(c, 0.12))}/>`);
  parts.push(`<rect x="3" y="42" width="17" height="40" rx="8" ${p.fill(shade(c, -0.05))}/>`);
  parts.push(`<rect x="80" y="42" width="17" height="40" rx="8" ${p.fill(shade(c, -0.05))}/>`);
  parts.push(p.highlight(50, 36, 28, 4));
  return p.wrap(parts.join(''));
}

function tableSvg(v: DrawnVariant): string {
  const p = new Painter(v.style);
  const wood = TABLE_WOODS[v.colour];
  const legs = v.colour === 'white' ? '#d8d3c8' : shade(wood, -0.25);
  const parts: string[] = [];
  // back legs (seen through), then the top in perspective, then the front legs
  parts.push(`<rect x="19" y="50" width="5" height="30" ${p.fill(shade(legs, -0.2))}/>`);
  parts.push(`<rect x="76" y="50" width="5" height="30" ${p.fill(shade(legs, -0.2))}/>`);
  parts.push(`<rect x="6" y="56" width="7" height="36" ${p.fill(legs)}/>`);
  parts.push(`<rect x="87" y="56" width="7" height="36" ${p.fill(legs)}/>`);
  parts.push(`<polygon points="12,40 88,40 98,52 2,52" ${p.fill(wood)}/>`);
  parts.push(`<rect x="2" y="52" width="96" height="6" ${p.fill(shade(wood, -0.18))}/>`);
  if (v.cloth) {
    const cc = CLOTHS[v.cloth];
    parts.push(`<polygon points="10,38 90,38 100,51 100,68 0,68 0,51" ${p.fill(cc)}/>`);
    parts.push(`<polygon points="0,51 100,51 100,68 0,68" fill="${shade(cc, -0.2)}" fill-opacity="0.6"/>`);
  }
  if (v.laid) {
    for (const x of [32, 66]) parts.push(`<ellipse cx="${x}" cy="46" rx="9" ry="3.2" ${p.fill('#fafafa')}/>`);
    parts.push(`<rect x="47" y="35" width="6" height="10" rx="1" ${p.fill('#bfe3f2')}/>`);
  }
  parts.push(p.highlight(50, 44, 30, 2));
  return p.wrap(parts.join(''));
}
