import type { Rng } from '../../core/random.js';
import { classSpec, GLYPH_BY_KEY, type ClassName, type Zone } from './catalogue.js';
import { STYLE_WORDS } from './artsets.js';
import type { BackgroundSpec } from './backgrounds.js';
import { area, type PlacedObject, type ScenePlan } from './layout.js';
import { SIZE_WORDS, isAbove, isLeftOf } from './captions.js';
import { NUMBER_WORDS, article, type Noun } from './words.js';

/**
 * The second world's captions (style `regions`): short region phrases as in Visual Genome, five
 * per image ("at most 5 texts per image", as the paper sampled VG), lower case, each true of one
 * region of the picture: an object with an attribute ("white dove", "small cartoon dog"), an
 * object and where it is ("sheep on grass"), what it does ("bird flying in the sky"), two objects
 * and their relation ("car near bus", "dog to the left of cat"), a part ("wing of the plane"), a
 * count ("two sheep"), or no object at all: the background ("blue sky", "green grass") or an
 * attribute ("cartoon drawing", "red tablecloth"). Larger regions are described more often (object
 * phrases pick their object by box area, the main one's doubled). Which phrase names which object is kept
 * in the manifest's meta (`regions`), as VG grounds each phrase to a region.
 */
export const REGION_KINDS = ['object', 'place', 'pose', 'relation', 'position', 'part', 'count', 'background', 'attribute'] as const;
export type RegionKind = (typeof REGION_KINDS)[number];

const KIND_WEIGHTS: [RegionKind, number][] = [
  ['object', 0.22], ['place', 0.2], ['pose', 0.1], ['relation', 0.12], ['position', 0.06],
  ['part', 0.07], ['count', 0.05], ['background', 0.13], ['attribute', 0.05],
];

/** A phrase and the objects (indices into plan.objects) it describes; [] for background and style. */
export interface Region {
  kind: RegionKind;
  objects: number[];
}

/** Parts every drawing of the class shows (a ram and a ewe both have wool; every car emoji has wheels). */
const PARTS: Partial<Record<ClassName, string[]>> = {
  aeroplane: ['wing', 'tail', 'wings'],
  bicycle: ['wheel', 'front wheel', 'back wheel', 'handlebars'],
  bird: ['beak', 'head', 'eye'],
  boat: ['hull'],
  bus: ['windows', 'wheels', 'wheel'],
  car: ['wheel', 'wheels', 'windows', 'tyre'],
  cat: ['tail', 'ears', 'head'],
  chair: ['legs', 'back'],
  cow: ['head', 'legs', 'tail'],
  diningtable: ['legs', 'top'],
  dog: ['head', 'ears', 'tail'],
  horse: ['mane', 'tail', 'legs'],
  motorbike: ['wheels', 'front wheel'],
  person: ['head', 'arm', 'legs'],
  pottedplant: ['leaves', 'pot', 'green leaves'],
  sheep: ['wool', 'head', 'legs'],
  sofa: ['cushions', 'arm', 'seat cushions'],
  train: ['windows', 'front'],
  tvmonitor: ['screen'],
};

/** Classes whose parts read as a possessive ("sheep's head"), not a compound ("car wheel"). */
const ANIMATE: ReadonlySet<ClassName> = new Set(['bird', 'cat', 'cow', 'dog', 'horse', 'person', 'sheep']);

/** Where an object in a zone is, in a few words ("on grass", "in the sky"). */
function zoneWords(bg: BackgroundSpec, zone: Zone): string[] {
  if (zone === 'air') return bg.name === 'sky' ? ['in the sky', 'in sky', 'in the air'] : ['in the sky', 'in the air', `over the ${groundWord(bg)}`];
  if (zone === 'rail') return ['on the tracks', 'on tracks', 'on the rails', 'on railway tracks'];
  if (zone === 'water') {
    if (bg.name === 'beach') return ['in the water', 'on the sea', 'on water'];
    return bg.variant === 'lake' ? ['on the lake', 'on water', 'on the water'] : ['on the sea', 'on water', 'in the ocean'];
  }
  switch (bg.name) {
    case 'grass':
      return ['on grass', 'on the grass', 'in the field', 'in a field'];
    case 'snow':
      return ['in the snow', 'on snow', 'on the snow'];
    case 'beach':
      return ['on the beach', 'on sand', 'on the sand'];
    case 'road':
      return ['on the road', 'on road', 'on the street'];
    case 'city':
      return ['on the street', 'on street', 'in the city'];
    case 'railway':
      return ['near the tracks', 'by the railway', bg.variant === 'gravel' ? 'on gravel' : 'on grass'];
    case 'room':
      return ['in the room', 'on the floor', 'on wooden floor'];
    case 'kitchen':
      return ['in the kitchen', 'on the floor', 'on tiled floor'];
    default:
      return ['outside'];
  }
}

function groundWord(bg: BackgroundSpec): string {
  switch (bg.name) {
    case 'grass':
      return 'field';
    case 'water':
      return bg.variant === 'lake' ? 'lake' : 'sea';
    case 'beach':
      return 'beach';
    case 'snow':
      return 'snow';
    case 'road':
      return 'road';
    case 'city':
      return 'city';
    case 'railway':
      return 'railway';
    default:
      return 'ground';
  }
}

/** Phrases about the background alone, each true of the painted picture (backgrounds.ts). */
function backgroundPhrases(bg: BackgroundSpec): string[] {
  const out: string[] = [];
  const indoor = bg.name === 'room' || bg.name === 'kitchen';
  if (!indoor) {
    if (bg.sunset) out.push('orange sky', 'sunset sky', 'evening sky', 'setting sun', 'sun low in the sky');
    else if (bg.name === 'snow') out.push('pale sky', 'winter sky');
    else out.push('blue sky', bg.clouds === 0 ? 'clear blue sky' : 'sky with clouds');
    if (bg.clouds === 1) out.push(bg.sunset ? 'pink cloud' : 'white cloud', 'cloud in the sky');
    if (bg.clouds >= 2) out.push(bg.sunset ? 'pink clouds' : 'white clouds', 'clouds in the sky');
  }
  switch (bg.name) {
    case 'grass':
      out.push('green grass', 'grassy field', 'green field', 'grass');
      break;
    case 'snow':
      out.push('white snow', 'snowy ground', 'snow on the ground', 'snow');
      break;
    case 'water':
      if (bg.variant === 'lake') out.push('calm lake', 'trees on the shore', 'lake water', 'dark trees on the far shore');
      else out.push('blue sea', 'ocean water', 'waves on the water', 'open sea');
      break;
    case 'beach':
      out.push('sandy beach', 'yellow sand', 'blue sea', 'waves on the shore', 'sand');
      break;
    case 'road':
      out.push('grey road', 'asphalt road', 'white line on the road', 'grass by the road');
      break;
    case 'city':
      out.push('tall buildings', 'lit windows', 'grey street', 'city skyline', 'buildings');
      break;
    case 'railway':
      out.push('railway tracks', 'wooden sleepers', 'rails', bg.variant === 'gravel' ? 'gravel by the tracks' : 'grass by the tracks');
      break;
    case 'room':
      out.push(`${bg.variant} wall`, `${bg.variant} walls`, 'wooden floor', 'floor boards');
      break;
    case 'kitchen':
      out.push(`${bg.variant} tiles`, 'tiled wall', 'checkered floor', 'black and white floor', 'wooden worktop');
      break;
  }
  return out;
}

// ---- objects --------------------------------------------------------------------------------

interface Ctx {
  plan: ScenePlan;
  rng: Rng;
  S: number;
}

function nounOf(o: PlacedObject, rng: Rng): Noun {
  const list = rng.chance(0.5) ? classSpec(o.class).nouns : GLYPH_BY_KEY.get(o.glyph)!.names;
  return rng.pick(list);
}

/** VG phrases mostly go without an article; some say "the" or "a". */
function det(rng: Rng, noun: string): string {
  const r = rng.next();
  if (r < 0.7) return noun;
  if (r < 0.88) return `the ${noun}`;
  return `${article(noun)} ${noun}`;
}

/** Attributes true of the object: its size word, a drawn object's colour, its art style. */
function attributes(o: PlacedObject, rng: Rng): string[] {
  const out: string[] = [];
  if (o.size !== 'medium') out.push(rng.pick(SIZE_WORDS[o.size]));
  if (o.drawn) out.push(o.drawn.colour);
  out.push(rng.pick(STYLE_WORDS[o.style]));
  return out;
}

/** "dog", "small dog", "red couch", "cartoon ewe". */
function name(o: PlacedObject, rng: Rng, adjChance = 0.35): string {
  const n = nounOf(o, rng).s;
  if (!rng.chance(adjChance)) return n;
  return `${rng.pick(attributes(o, rng))} ${n}`;
}

const centreX = (o: PlacedObject) => (o.box[0] + o.box[2]) / 2;

function near(a: PlacedObject, b: PlacedObject, S: number): boolean {
  const gx = Math.max(0, Math.max(a.box[0], b.box[0]) - Math.min(a.box[2], b.box[2]));
  const gy = Math.max(0, Math.max(a.box[1], b.box[1]) - Math.min(a.box[3], b.box[3]));
  return Math.max(gx, gy) < 0.1 * S;
}

type Phrase = { text: string; objects: number[] } | null;
type Maker = (c: Ctx, i: number) => Phrase;

const MAKERS: Record<RegionKind, Maker> = {
  object: (c, i) => {
    const o = c.plan.objects[i];
    // "the sofa is red", "dog is small" ("is cartoon" reads wrong: that word only goes before a noun)
    const predicates = attributes(o, c.rng).filter((a) => a !== 'cartoon');
    if (predicates.length && c.rng.chance(0.2)) return { text: `${det(c.rng, nounOf(o, c.rng).s)} is ${c.rng.pick(predicates)}`, objects: [i] };
    return { text: det(c.rng, name(c.plan.objects[i], c.rng, 0.75)), objects: [i] };
  },
  place: (c, i) => {
    const o = c.plan.objects[i];
    return { text: `${det(c.rng, name(o, c.rng, 0.25))} ${c.rng.pick(zoneWords(c.plan.background, o.zone))}`, objects: [i] };
  },
  pose: (c, i) => {
    const o = c.plan.objects[i];
    if (!o.pose) return null;
    const n = det(c.rng, name(o, c.rng, 0.2));
    const r = c.rng.next();
    if (r < 0.35) return { text: `${n} ${o.pose}`, objects: [i] };
    if (r < 0.5) return { text: `${n} is ${o.pose}`, objects: [i] };
    return { text: `${n} ${o.pose} ${c.rng.pick(zoneWords(c.plan.background, o.zone))}`, objects: [i] };
  },
  relation: (c, i) => {
    const objs = c.plan.objects;
    if (objs.length < 2) return null;
    const j = c.rng.pick(objs.map((_, k) => k).filter((k) => k !== i));
    const a = objs[i], b = objs[j];
    const rels: string[] = ['and'];
    if (near(a, b, c.S)) rels.push('near', 'next to', 'beside', 'near');
    if (isLeftOf(a, b, c.S)) rels.push('to the left of', 'left of');
    if (isLeftOf(b, a, c.S)) rels.push('to the right of', 'right of');
    if (isAbove(a, b, c.S)) rels.push('above', 'over');
    if (isAbove(b, a, c.S)) rels.push('below', 'under');
    const rel = c.rng.pick(rels.length > 1 ? rels.slice(1) : rels);
    return { text: `${det(c.rng, name(a, c.rng, 0.25))} ${rel} ${rel === 'and' ? name(b, c.rng, 0.25) : det(c.rng, name(b, c.rng, 0.25))}`, objects: [i, j] };
  },
  position: (c, i) => {
    const o = c.plan.objects[i];
    const x = centreX(o) / c.S;
    const where = x < 0.38 ? ['on the left', 'on left side', 'at left'] : x > 0.62 ? ['on the right', 'on right side', 'at right'] : x > 0.44 && x < 0.56 ? ['in the middle', 'in the centre'] : null;
    return where ? { text: `${det(c.rng, name(o, c.rng, 0.2))} ${c.rng.pick(where)}`, objects: [i] } : null;
  },
  part: (c, i) => {
    const o = c.plan.objects[i];
    const parts = PARTS[o.class];
    if (!parts) return null;
    const part = c.rng.pick(parts);
    const n = nounOf(o, c.rng).s;
    // "wing of the plane", "car wheel", "dog's tail"
    const short = ANIMATE.has(o.class) ? `${n}'s ${part}` : `${n} ${part}`;
    return { text: c.rng.chance(0.6) ? `${part} of ${c.rng.chance(0.7) ? 'the ' : ''}${n}` : short, objects: [i] };
  },
  count: (c, i) => {
    const cls = c.plan.objects[i].class;
    const same = c.plan.objects.map((o, k) => (o.class === cls ? k : -1)).filter((k) => k >= 0);
    if (same.length < 2) return null;
    const n = c.rng.pick(classSpec(cls).nouns);
    const text = same.length >= 3 && c.rng.chance(0.3) ? `group of ${n.p}` : `${NUMBER_WORDS[same.length]} ${n.p}`;
    return { text, objects: same };
  },
  background: (c) => ({ text: c.rng.pick(backgroundPhrases(c.plan.background)), objects: [] }),
  attribute: (c) => {
    const objs = c.plan.objects;
    const cloth = objs.findIndex((o) => o.drawn?.cloth);
    if (cloth >= 0 && c.rng.chance(0.5)) return { text: `${objs[cloth].drawn!.cloth} tablecloth`, objects: [cloth] };
    const styles = new Set(objs.map((o) => o.style));
    if (styles.size !== 1) return { text: c.rng.pick(['colourful drawing', 'emoji art', 'clip art']), objects: [] };
    const w = c.rng.pick(STYLE_WORDS[objs[0].style]);
    return { text: `${w} ${c.rng.pick(['drawing', 'illustration', 'emoji art', 'style'])}`, objects: [] };
  },
};

/**
 * The object a phrase is about, by region size as in VG (large regions get more descriptions):
 * in proportion to box area, the main (largest) object's weight doubled.
 */
function pickObject(c: Ctx): number {
  const w = c.plan.objects.map((o, k) => area(o.box) * (k === 0 ? 2 : 1));
  let r = c.rng.next() * w.reduce((a, b) => a + b, 0);
  for (let k = 0; k < w.length; k++) if ((r -= w[k]) < 0) return k;
  return 0;
}

function weightedKind(rng: Rng): RegionKind {
  const total = KIND_WEIGHTS.reduce((s, [, w]) => s + w, 0);
  let r = rng.next() * total;
  for (const [k, w] of KIND_WEIGHTS) if ((r -= w) < 0) return k;
  return KIND_WEIGHTS[KIND_WEIGHTS.length - 1][0];
}

/** Five distinct region phrases of a scene, and what each describes. */
export function regionCaptions(plan: ScenePlan, rng: Rng, count = 5): { captions: string[]; regions: Region[] } {
  const c: Ctx = { plan, rng, S: plan.size };
  const captions: string[] = [];
  const regions: Region[] = [];
  const seen = new Set<string>();
  for (let attempt = 0; captions.length < count; attempt++) {
    if (attempt > 400) throw new Error('could not find enough distinct region phrases');
    const kind = weightedKind(rng);
    const p = MAKERS[kind](c, pickObject(c));
    const text = p?.text.toLowerCase();
    // "dog in the centre" and "a dog in the centre" describe one region: keep one of them
    const key = text?.replace(/^(a|an|the) /, '');
    if (!p || !text || !key || seen.has(key)) continue;
    seen.add(key);
    captions.push(text);
    regions.push({ kind, objects: p.objects });
  }
  return { captions, regions };
}
