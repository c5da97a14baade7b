import type { Rng } from '../../core/random.js';
import { classSpec, GLYPH_BY_KEY, type Zone } from './catalogue.js';
import { STYLE_WORDS } from './artsets.js';
import type { BackgroundSpec } from './backgrounds.js';
import type { PlacedObject, ScenePlan } from './layout.js';
import { article, capitalise, counted, joinList, type Noun } from './words.js';

/**
 * Five different captions per scene, each exactly true of the picture. Every caption names
 * every object with the right count (so counting the nouns of a caption gives the scene's
 * objects), and adds some of: glyph-level names, art style, size, colour, what it is doing,
 * where it is (in the frame, or relative to another object) and the place. Eleven template
 * types, each with several wordings, keep captions specific: identical captions on different
 * test images cap text→image Recall@1, so the generator reports that ceiling.
 */
export const SIZE_WORDS = { large: ['large', 'big'], small: ['small', 'little'] } as const;

/** Words that may stand between a count word and a noun; the caption checker skips them. */
export const CAPTION_MODIFIERS: ReadonlySet<string> = new Set([
  ...Object.values(STYLE_WORDS).flat(),
  ...SIZE_WORDS.large, ...SIZE_WORDS.small,
  'red', 'blue', 'green', 'grey', 'yellow', 'brown', 'purple', 'orange', 'wooden', 'white',
]);

/** Relations hold with a margin (fractions of the image side), so they are visible, not guessed. */
export const LEFT_MARGIN = 0.12;
export const ABOVE_MARGIN = 0.15;

interface Place {
  /** where an object in this zone is ("on the grass") */
  zone: Partial<Record<Zone, string[]>>;
  /** true of every object in the scene ("in the countryside") */
  scene: string[];
  /** the place as a noun phrase ("a green field") */
  nouns: string[];
}

/** Place phrases, with the evening light when the background has a sunset. */
function place(bg: BackgroundSpec): Place {
  const p = basePlace(bg);
  if (!bg.sunset || bg.name === 'sky') return p;
  const evening = (list: string[]) => list.flatMap((w) => [w, `${w} at sunset`, `${w} at dusk`]);
  return {
    zone: Object.fromEntries(Object.entries(p.zone).map(([z, list]) => [z, evening(list)])),
    scene: evening(p.scene),
    nouns: evening(p.nouns),
  };
}

function basePlace(bg: BackgroundSpec): Place {
  switch (bg.name) {
    case 'sky': {
      let q: string[], nouns: string[];
      if (bg.sunset) {
        q = bg.clouds === 0 ? ['in a clear evening sky', 'in an orange sky at sunset'] : bg.clouds >= 2 ? ['in a cloudy evening sky', 'among pink clouds at sunset'] : ['in the evening sky', 'in the sky at sunset'];
        nouns = bg.clouds >= 2 ? ['a cloudy sky at sunset'] : ['an orange evening sky', 'a sunset sky'];
      } else {
        q = bg.clouds === 0 ? ['in a clear blue sky', 'in a cloudless sky'] : bg.clouds >= 2 ? ['in a cloudy sky', 'among the clouds'] : ['in the blue sky'];
        nouns = bg.clouds === 0 ? ['a clear blue sky'] : bg.clouds >= 2 ? ['a cloudy sky'] : ['a blue sky'];
      }
      return { zone: { air: ['in the sky', ...q, ...q] }, scene: ['in the sky', ...q, ...q], nouns };
    }
    case 'grass':
      return {
        zone: { ground: ['on the grass', 'in a green field', 'on a meadow', 'on a grassy field'], air: ['over a green field', 'above the grass', 'over a meadow'] },
        scene: ['in the countryside', 'in a green landscape'],
        nouns: ['a green field', 'a grassy meadow'],
      };
    case 'water':
      return bg.variant === 'lake'
        ? { zone: { water: ['on a lake', 'on the water', 'on a calm lake'], air: ['over a lake', 'above the water'] }, scene: ['at a lake', 'by a lake'], nouns: ['a lake', 'a lake with a wooded shore'] }
        : { zone: { water: ['on the sea', 'at sea', 'on the open water'], air: ['over the sea', 'above the ocean'] }, scene: ['at sea', 'out at sea'], nouns: ['the open sea', 'a blue sea'] };
    case 'beach':
      return {
        zone: { ground: ['on the beach', 'on the sand', 'on a sandy beach'], water: ['on the sea by a beach', 'in the water off a beach'], air: ['over the beach', 'above the seaside'] },
        scene: ['at the beach', 'at the seaside', 'by the sea'],
        nouns: ['a sandy beach', 'a beach by the sea'],
      };
    case 'snow':
      return {
        zone: { ground: ['in the snow', 'on the snow', 'on a snowy field'], air: ['over a snowy landscape', 'above the snow'] },
        scene: ['in a snowy landscape', 'in winter'],
        nouns: ['a snowy field', 'a winter landscape'],
      };
    case 'road':
      return {
        zone: { ground: ['on the road', 'on an asphalt road', 'on a country road'], air: ['over a road', 'above a country road'] },
        scene: ['by a country road', 'near a road'],
        nouns: ['a country road', 'an asphalt road'],
      };
    case 'city':
      return {
        zone: { ground: ['on a city street', 'on the street', 'in the city'], air: ['over the city', 'above the rooftops'] },
        scene: ['in the city', 'in town'],
        nouns: ['a city street', 'a street with buildings'],
      };
    case 'railway':
      return {
        zone: {
          ground: ['beside the railway', 'near the railway tracks', 'by the railway line'],
          rail: ['on the railway tracks', 'on the rails', 'on the railway line'],
          air: ['over the railway', 'above the railway line'],
        },
        scene: ['at the railway', 'by the railway'],
        nouns: [bg.variant === 'gravel' ? 'a railway line on gravel' : 'a railway line through grass', 'railway tracks'],
      };
    case 'room':
      return {
        zone: { ground: [`in a room with ${bg.variant} walls`, 'in a living room', 'indoors', 'in a room'] },
        scene: [`in a room with ${bg.variant} walls`, 'in a living room', 'indoors'],
        nouns: [`a room with ${bg.variant} walls`, `a living room with ${bg.variant} walls`, 'a living room'],
      };
    case 'kitchen':
      return {
        zone: { ground: [`in a kitchen with ${bg.variant} tiles`, 'in a kitchen', 'indoors'] },
        scene: [`in a kitchen with ${bg.variant} tiles`, 'in a kitchen', 'indoors'],
        nouns: [`a kitchen with ${bg.variant} tiles`, 'a tiled kitchen'],
      };
  }
}

// ---- naming objects -------------------------------------------------------------------------

/** A noun for one object: the class's generic names or the glyph's own names. */
function nameOf(o: PlacedObject, rng: Rng, level: 'class' | 'glyph'): Noun {
  const list = level === 'class' ? classSpec(o.class).nouns : GLYPH_BY_KEY.get(o.glyph)!.names;
  return rng.pick(list);
}

function styleWord(o: PlacedObject, rng: Rng): string {
  return rng.pick(STYLE_WORDS[o.style]);
}

/** Adjectives of a drawn object (its colour or material), true by construction. */
function drawnWords(o: PlacedObject): string[] {
  return o.drawn ? [o.drawn.colour] : [];
}

/** A tail phrase after a drawn table's noun ("with a red tablecloth"). */
function drawnTail(o: PlacedObject): string {
  if (!o.drawn || o.drawn.kind !== 'table') return '';
  if (o.drawn.cloth) return ` with ${article(o.drawn.cloth)} ${o.drawn.cloth} tablecloth`;
  return o.drawn.laid ? ' laid with plates' : '';
}

interface DescOpts {
  level: 'class' | 'glyph';
  style?: boolean;
  size?: boolean;
  colour?: boolean;
}

/** "a large glossy ewe", "a red couch". */
function describe(o: PlacedObject, rng: Rng, opts: DescOpts): string {
  const adj: string[] = [];
  if (opts.size && o.size !== 'medium') adj.push(rng.pick(SIZE_WORDS[o.size]));
  if (opts.colour) adj.push(...drawnWords(o));
  if (opts.style) adj.push(styleWord(o, rng));
  return counted(1, nameOf(o, rng, opts.level), adj) + (opts.colour ? drawnTail(o) : '');
}

/** Objects grouped under one noun each: "two sheep and a dog", "a ewe, a ram and a dog". */
function countPhrase(objs: PlacedObject[], rng: Rng, level: 'class' | 'glyph', useOne = false): string {
  const groups = new Map<string, { n: Noun; count: number }>();
  const byClass = new Map<string, Noun>();
  for (const o of objs) {
    let nn: Noun;
    if (level === 'class') {
      // one generic noun per class, so "two sheep", not "a sheep and a lamb"
      nn = byClass.get(o.class) ?? nameOf(o, rng, 'class');
      byClass.set(o.class, nn);
    } else nn = nameOf(o, rng, 'glyph');
    const g = groups.get(nn.s);
    if (g) g.count++;
    else groups.set(nn.s, { n: nn, count: 1 });
  }
  const parts = [...groups.values()].map((g) => (useOne && g.count === 1 ? `one ${g.n.s}` : counted(g.count, g.n)));
  return joinList(parts);
}

// ---- geometry words -------------------------------------------------------------------------

const centreX = (o: PlacedObject) => (o.box[0] + o.box[2]) / 2;
const centreY = (o: PlacedObject) => (o.box[1] + o.box[3]) / 2;

export function isLeftOf(a: PlacedObject, b: PlacedObject, S: number): boolean {
  return centreX(a) + LEFT_MARGIN * S < centreX(b);
}
export function isAbove(a: PlacedObject, b: PlacedObject, S: number): boolean {
  return centreY(a) + ABOVE_MARGIN * S < centreY(b);
}

/** Where in the frame an object is, or null when it is between two clear answers. */
function framePosition(o: PlacedObject, S: number, rng: Rng): string | null {
  const x = centreX(o) / S;
  if (x < 0.38) return rng.pick(['on the left', 'on the left side', 'in the left half of the picture']);
  if (x > 0.62) return rng.pick(['on the right', 'on the right side', 'in the right half of the picture']);
  if (x > 0.44 && x < 0.56) return rng.pick(['in the middle', 'in the centre']);
  return null;
}

// ---- templates ------------------------------------------------------------------------------

interface Ctx {
  plan: ScenePlan;
  objs: PlacedObject[];
  rng: Rng;
  place: Place;
  S: number;
  /** one wording per zone within a caption, so two objects on the grass share "on the grass" */
  zoneWords: Map<Zone, string>;
}

/** A place phrase true of all objects: their zone's phrase when they share one, else the scene's. */
function wherePhrase(c: Ctx): string {
  const zones = new Set(c.objs.map((o) => o.zone));
  const zoneList = zones.size === 1 ? c.place.zone[[...zones][0]] ?? [] : [];
  return c.rng.pick([...zoneList, ...zoneList, ...c.place.scene]);
}

function zonePhrase(c: Ctx, o: PlacedObject): string {
  let w = c.zoneWords.get(o.zone);
  if (!w) c.zoneWords.set(o.zone, (w = c.rng.pick(c.place.zone[o.zone] ?? c.place.scene)));
  return w;
}

type Template = (c: Ctx) => string | null;

/** " in flat style" when every object shares one style, else "". */
function styleTail(c: Ctx): string {
  const styles = new Set(c.objs.map((o) => o.style));
  if (styles.size !== 1) return '';
  return c.rng.pick([` in ${styleWord(c.objs[0], c.rng)} style`, `, drawn in ${styleWord(c.objs[0], c.rng)} style`]);
}

/** A describe() with a random mix of details, at least one when `atLeastOne`. */
function detailed(o: PlacedObject, c: Ctx, atLeastOne = true): string {
  const opts: DescOpts = { level: c.rng.chance(0.6) ? 'glyph' : 'class', style: c.rng.chance(0.4), size: c.rng.chance(0.4), colour: true };
  if (atLeastOne && opts.level === 'class' && !opts.style && !(opts.size && o.size !== 'medium') && !o.drawn) opts.style = true;
  return describe(o, c.rng, opts);
}

/*
 * Each template names every object with its count. The plain ones ("two sheep on the grass")
 * get a style or position tail so that even they are rarely shared by two pictures.
 */
const TEMPLATES: Record<string, Template> = {
  counts: (c) => {
    const tail = c.objs.length === 1 && c.rng.chance(0.5) ? framePosition(c.objs[0], c.S, c.rng) : null;
    const body = `${countPhrase(c.objs, c.rng, 'class', c.objs.length > 1 && c.rng.chance(0.3))} ${wherePhrase(c)}`;
    return tail ? `${body}, ${tail}` : `${body}${styleTail(c)}`;
  },
  glyphs: (c) => `${countPhrase(c.objs, c.rng, 'glyph')} ${wherePhrase(c)}${c.rng.chance(0.5) ? styleTail(c) : ''}`,
  style: (c) => {
    const styles = new Set(c.objs.map((o) => o.style));
    if (styles.size === 1 && c.rng.chance(0.6)) {
      const w = styleWord(c.objs[0], c.rng);
      const pre = c.rng.pick([`${article(w)} ${w} drawing of`, `${article(w)} ${w} illustration of`, `${w} emoji art of`, `${article(w)} ${w} picture of`]);
      return `${pre} ${countPhrase(c.objs, c.rng, 'glyph')} ${wherePhrase(c)}`;
    }
    return `${joinList(c.objs.map((o) => describe(o, c.rng, { level: 'glyph', style: true, colour: c.rng.chance(0.5) })))} ${wherePhrase(c)}`;
  },
  size: (c) => {
    if (c.objs.every((o) => o.size === 'medium')) return null;
    return `${joinList(c.objs.map((o) => describe(o, c.rng, { level: c.rng.chance(0.5) ? 'glyph' : 'class', size: true, colour: true, style: c.rng.chance(0.3) })))} ${wherePhrase(c)}`;
  },
  relation: (c) => {
    const { objs, S, rng } = c;
    const d = (o: PlacedObject) => describe(o, rng, { level: 'glyph', style: rng.chance(0.3), colour: rng.chance(0.5) });
    if (objs.length === 1) {
      const pos = framePosition(objs[0], S, rng);
      return pos ? `${d(objs[0])} ${pos}, ${wherePhrase(c)}` : null;
    }
    if (objs.length === 2) {
      const [a, b] = objs;
      const options: string[] = [];
      if (isLeftOf(a, b, S)) options.push(`${d(a)} to the left of ${d(b)}`, `${d(b)} to the right of ${d(a)}`);
      if (isLeftOf(b, a, S)) options.push(`${d(b)} to the left of ${d(a)}`, `${d(a)} to the right of ${d(b)}`);
      if (isAbove(a, b, S)) options.push(`${d(a)} above ${d(b)}`, `${d(b)} below ${d(a)}`);
      if (isAbove(b, a, S)) options.push(`${d(b)} above ${d(a)}`, `${d(a)} below ${d(b)}`);
      return options.length ? `${rng.pick(options)}, ${wherePhrase(c)}` : null;
    }
    const sorted = objs.slice().sort((p, q) => centreX(p) - centreX(q));
    for (let i = 1; i < sorted.length; i++) if (!isLeftOf(sorted[i - 1], sorted[i], S)) return null;
    return `from left to right: ${joinList(sorted.map(d))}, ${wherePhrase(c)}`;
  },
  frame: (c) => {
    if (c.objs.length < 2) return null;
    const parts: string[] = [];
    for (const o of c.objs) {
      const pos = framePosition(o, c.S, c.rng);
      if (!pos) return null;
      parts.push(`${describe(o, c.rng, { level: c.rng.chance(0.5) ? 'glyph' : 'class', colour: c.rng.chance(0.5) })} ${pos}`);
    }
    return `${joinList(parts)}, ${wherePhrase(c)}`;
  },
  there: (c) => {
    const list = c.objs.length === 1 || c.rng.chance(0.5) ? joinList(c.objs.map((o) => detailed(o, c))) : countPhrase(c.objs, c.rng, 'glyph');
    const verb = /^(a|an|one) /.test(list) ? 'is' : 'are';
    return `there ${verb} ${list} ${wherePhrase(c)}`;
  },
  pose: (c) => {
    if (!c.objs.some((o) => o.pose)) return null;
    c.zoneWords.clear();
    return joinList(c.objs.map((o) => `${detailed(o, c, false)}${o.pose ? ` ${o.pose}` : ''} ${zonePhrase(c, o)}`));
  },
  placeFirst: (c) => {
    const where = c.rng.pick(c.place.nouns);
    const list = c.objs.length === 1 || c.rng.chance(0.5) ? joinList(c.objs.map((o) => detailed(o, c))) : countPhrase(c.objs, c.rng, 'glyph');
    // "a room with blue walls and a sofa", not "… with blue walls with a sofa"
    return `${where}${where.includes(' with ') ? ' and' : ' with'} ${list}`;
  },
  picture: (c) => {
    const pre = c.rng.pick(['a picture of', 'an image of', 'a scene with', 'an illustration of', 'a drawing of']);
    return `${pre} ${joinList(c.objs.map((o) => describe(o, c.rng, { level: 'glyph', colour: true, size: c.rng.chance(0.5), style: c.rng.chance(0.3) })))} ${wherePhrase(c)}`;
  },
  styleCount: (c) => {
    // per class and style: "two glossy sheep and a flat dog"
    const groups = new Map<string, PlacedObject[]>();
    for (const o of c.objs) groups.set(`${o.class}/${o.style}`, [...(groups.get(`${o.class}/${o.style}`) ?? []), o]);
    const parts = [...groups.values()].map((g) => counted(g.length, nameOf(g[0], c.rng, 'class'), [styleWord(g[0], c.rng)]));
    return `${joinList(parts)} ${wherePhrase(c)}`;
  },
};

export const TEMPLATE_TYPES = Object.keys(TEMPLATES);

/** Objects in the order captions list them: the main one first, then left to right. */
function captionOrder(plan: ScenePlan): PlacedObject[] {
  const [main, ...rest] = plan.objects;
  return [main, ...rest.sort((a, b) => centreX(a) - centreX(b))];
}

export function captionScene(plan: ScenePlan, rng: Rng, count = 5): string[] {
  const c: Ctx = { plan, objs: captionOrder(plan), rng, place: place(plan.background), S: plan.size, zoneWords: new Map() };
  const out: string[] = [];
  const seen = new Set<string>();
  let types = rng.shuffle(TEMPLATE_TYPES);
  for (let attempt = 0; out.length < count; attempt++) {
    if (attempt > 200) throw new Error('could not find enough distinct captions');
    if (types.length === 0) types = rng.shuffle(TEMPLATE_TYPES);
    const text = TEMPLATES[types.shift()!](c);
    if (!text) continue;
    const caption = capitalise(text);
    if (seen.has(caption)) continue;
    seen.add(caption);
    out.push(caption);
  }
  return out;
}
