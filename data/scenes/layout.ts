import { Rng } from '../../core/random.js';
import { CLASSES, classSpec, type BackgroundName, type ClassName, type GlyphSpec, type Zone } from './catalogue.js';
import { ART_SETS, DRAWN_SET, type ArtSet, type SetId, type Style } from './artsets.js';
import { pickBackground, zoneRange, zonesOf, type BackgroundSpec } from './backgrounds.js';
import { pickDrawnVariant, type DrawnVariant } from './drawn.js';
import { SENTENCES_LAYOUT, type LayoutConfig } from './style.js';

/**
 * Plans one scene: background, objects (class, glyph, art set, size, place, flip, rotation)
 * and their boxes. Everything is drawn from one Rng, so a scene is a pure function of
 * (seed, index, main class, size); rendering and captions only read the plan.
 */
export type SizeWord = 'small' | 'medium' | 'large';

export interface PlacedObject {
  class: ClassName;
  glyph: string;
  set: SetId;
  style: Style;
  drawn?: DrawnVariant;
  zone: Zone;
  /** what it is doing, when the drawing shows it ("walking", "flying") */
  pose?: string;
  /** tight box in pixels [x0, y0, x1, y1] (rotation included) */
  box: [number, number, number, number];
  /** longest side of the unrotated drawing as a fraction of the image */
  extent: number;
  size: SizeWord;
  flip: boolean;
  /** degrees, clockwise */
  rotation: number;
  /** where to draw: centre of the glyph's square canvas and its side, in pixels */
  cx: number;
  cy: number;
  side: number;
}

export interface ScenePlan {
  size: number;
  background: BackgroundSpec;
  /** objects[0] is the main one (the label); the largest by box area */
  objects: PlacedObject[];
}

/** What layout needs to know of a glyph's drawing: its visible box on the square canvas. */
export type GlyphBoxLookup = (set: SetId, glyph: GlyphSpec, drawn?: DrawnVariant) => [number, number, number, number];

// Object counts, sizes, overlap, art-set and background mix: style.ts (LayoutConfig). The default
// world's values are SENTENCES_LAYOUT; a style changes them, never the order of the draws below.

function weighted<T>(rng: Rng, items: [T, number][]): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let r = rng.next() * total;
  for (const [item, w] of items) {
    r -= w;
    if (r < 0) return item;
  }
  return items[items.length - 1][0];
}

function glyphsFor(cls: ClassName, bg: BackgroundName): GlyphSpec[] {
  const zones = zonesOf(bg);
  return classSpec(cls).glyphs.filter((g) => g.zones.some((z) => zones.includes(z)));
}

/** Classes that may join a scene on `bg`, weighted by how at home they are there. */
function companionsFor(bg: BackgroundName): [ClassName, number][] {
  return CLASSES.map((c) => [c, classSpec(c).backgrounds[bg] ?? 0] as [ClassName, number]).filter(([c, w]) => w > 0 && glyphsFor(c, bg).length > 0);
}

export function sizeWord(extent: number): SizeWord {
  return extent >= 0.6 ? 'large' : extent <= 0.45 ? 'small' : 'medium';
}

/** Background weights of a class under a layout (the catalogue's, times the layout's multipliers). */
function backgroundWeights(main: ClassName, layout: LayoutConfig): [BackgroundName, number][] {
  const own = Object.entries(classSpec(main).backgrounds) as [BackgroundName, number][];
  const mult = layout.backgroundWeights;
  return mult ? own.map(([bg, w]) => [bg, w * (mult[bg] ?? 1)]) : own;
}

export function planScene(rng: Rng, main: ClassName, size: number, boxOf: GlyphBoxLookup, layout: LayoutConfig = SENTENCES_LAYOUT): ScenePlan {
  // a narrow band (a beach's sea) may not fit a tall drawing: then draw another background
  for (let tries = 0; tries < 20; tries++) {
    const bgName = weighted(rng, backgroundWeights(main, layout));
    const background = pickBackground(bgName, rng, layout.sunsetChance);
    const n = weighted(rng, layout.objectCounts);
    // the more objects, the smaller the main one, so that the others find room beside it
    const first = placeObject(rng, main, layout.mainExtent[n], background, size, [], boxOf, layout);
    if (!first) continue;
    const objects: PlacedObject[] = [first];
    const companion = () => {
      const cls = rng.chance(layout.sameClassCompanion) ? main : weighted(rng, companionsFor(bgName));
      const placed = placeObject(rng, cls, [layout.companionExtent[0], Math.min(layout.companionExtent[1], first.extent * 0.85)], background, size, objects, boxOf, layout);
      if (placed) objects.push(placed);
    };
    for (let i = 1; i < n; i++) companion();
    // a style with a minimum (regions: 2) tries a few more companions, then another background
    for (let extra = 0; objects.length < layout.minObjects && extra < 8; extra++) companion();
    if (objects.length < layout.minObjects) continue;
    return { size, background, objects };
  }
  throw new Error(`could not place a ${main} in 20 backgrounds`);
}

function placeObject(
  rng: Rng,
  cls: ClassName,
  extentRange: [number, number],
  bg: BackgroundSpec,
  S: number,
  others: PlacedObject[],
  boxOf: GlyphBoxLookup,
  layout: LayoutConfig,
): PlacedObject | null {
  const glyph = rng.pick(glyphsFor(cls, bg.name));
  const zone = rng.pick(glyph.zones.filter((z) => zonesOf(bg.name).includes(z)));
  let set: SetId;
  let style: Style;
  let drawn: DrawnVariant | undefined;
  const artWeights = layout.artSetWeights;
  if (glyph.drawn) {
    set = DRAWN_SET;
    style = (artWeights ? weighted(rng, ART_SETS.map((a): [ArtSet, number] => [a, artWeights[a.id]])) : rng.pick(ART_SETS)).style;
    drawn = pickDrawnVariant(glyph.drawn, style, rng);
  } else {
    const sets = ART_SETS.filter((a) => !glyph.notIn?.includes(a.id));
    const art = artWeights ? weighted(rng, sets.map((a): [ArtSet, number] => [a, artWeights[a.id]])) : rng.pick(sets);
    set = art.id;
    style = art.style;
  }
  const [bx0, by0, bx1, by1] = boxOf(set, glyph, drawn);
  const flip = rng.chance(0.5);
  const maxTilt = zone === 'air' ? 15 : zone === 'rail' ? 2 : zone === 'water' ? 6 : 8;
  const rotation = Math.round(rng.float(-maxTilt, maxTilt) * 10) / 10;
  const isMain = others.length === 0;
  const mainArea = isMain ? Infinity : area(others[0].box);
  // the main object is big (recognisable at 64 px); companions are smaller than it
  let extent = rng.float(extentRange[0], extentRange[1]);
  for (let attempt = 0; attempt < 80; attempt++) {
    if (attempt > 0 && attempt % 16 === 0) extent *= 0.92;
    if (extent < (isMain ? layout.minExtent.main : layout.minExtent.companion)) return null;
    const side = (extent * S) / Math.max(bx1 - bx0, by1 - by0);
    const geom = rotatedBox(side, [bx0, by0, bx1, by1], flip, rotation);
    const w = geom.x1 - geom.x0;
    const h = geom.y1 - geom.y0;
    if (w > S || h > S) continue;
    const [lo, hi] = zoneRange(bg, zone);
    let top: number;
    if (zone === 'air') {
      const cyLo = Math.max(lo * S, h / 2), cyHi = Math.min(hi * S, S - h / 2);
      if (cyLo > cyHi) continue;
      top = rng.float(cyLo, cyHi) - h / 2;
    } else {
      const bLo = Math.max(lo * S, h), bHi = Math.min(hi * S, S);
      if (bLo > bHi) continue;
      top = rng.float(bLo, bHi) - h;
    }
    const left = rng.float(0, S - w);
    const box: [number, number, number, number] = [
      Math.max(0, Math.floor(left)), Math.max(0, Math.floor(top)), Math.min(S, Math.ceil(left + w)), Math.min(S, Math.ceil(top + h)),
    ];
    if (others.some((o) => overlapShare(o.box, box) > layout.maxOverlap)) continue;
    // `label` is the largest object: keep every companion clearly smaller than the main one
    if (area(box) > mainArea * 0.85) {
      extent *= 0.92;
      continue;
    }
    const pose = glyph.pose?.[zone];
    return {
      class: cls, glyph: glyph.key, set, style, ...(drawn ? { drawn } : {}), zone, ...(pose ? { pose } : {}),
      box, extent: Math.round(extent * 1000) / 1000, size: sizeWord(extent), flip, rotation,
      cx: left - geom.x0, cy: top - geom.y0, side,
    };
  }
  return null;
}

/**
 * The box of the visible drawing after flip and rotation about the canvas centre, relative to
 * that centre. Using the rotated corners of the unrotated box is slightly loose, never tight.
 */
export function rotatedBox(side: number, b: [number, number, number, number], flip: boolean, rotation: number) {
  const th = (rotation * Math.PI) / 180;
  const c = Math.cos(th), s = Math.sin(th);
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [fx, fy] of [[b[0], b[1]], [b[2], b[1]], [b[0], b[3]], [b[2], b[3]]]) {
    let u = (fx - 0.5) * side;
    const v = (fy - 0.5) * side;
    if (flip) u = -u;
    const x = c * u - s * v, y = s * u + c * v;
    x0 = Math.min(x0, x), y0 = Math.min(y0, y), x1 = Math.max(x1, x), y1 = Math.max(y1, y);
  }
  return { x0, y0, x1, y1 };
}

export function area(b: readonly number[]): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

function overlapShare(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.min(area(a), area(b));
}
