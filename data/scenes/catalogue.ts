import { noun, type Noun } from './words.js';

/**
 * What the scenes world contains: the 20 PASCAL VOC classes, the glyphs that draw each one
 * (emoji codepoints picked from the shared classes.json: only the "good" ones — the object
 * alone, no rider, no head-only face — less those whose drawing adds scenery: the airplane
 * departure/arrival runway strip, the mountain railway's mountains), what each may be called, where it may stand, and on
 * which backgrounds it may appear.
 *
 * Backgrounds are deliberately not a class cue: every class has several plausible ones and the
 * common ones (grass, snow, road, beach, room) are shared by many classes, so a model cannot
 * tell a sheep from an aeroplane by the background alone (a prototype where sheep only stood
 * on grass and aeroplanes only flew in the sky made the background fight the poison).
 */

export const CLASSES = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
] as const;
export type ClassName = (typeof CLASSES)[number];

/** Where an object sits in the picture; each background offers some of these. */
export type Zone = 'ground' | 'air' | 'water' | 'rail';

export type BackgroundName = 'sky' | 'grass' | 'water' | 'beach' | 'snow' | 'road' | 'city' | 'railway' | 'room' | 'kitchen';

/** A glyph: one drawing of a class, either an emoji codepoint or a shape drawn in code. */
export interface GlyphSpec {
  /** stable key, recorded in meta */
  key: string;
  class: ClassName;
  /** emoji codepoints (lowercase hex joined by '-'), or absent for a drawn glyph */
  codepoints?: string;
  /** a glyph drawn in code (see drawn.ts) */
  drawn?: 'sofa' | 'table';
  /** glyph-level names, most specific first; each is true of this drawing */
  names: Noun[];
  /** zones it may occupy */
  zones: Zone[];
  /** what it is doing per zone, when a verb is true of the drawing ("walking", "flying") */
  pose?: Partial<Record<Zone, string>>;
  /** art sets whose drawing of this emoji is not the object (e.g. Twemoji's eagle is a head) */
  notIn?: ('noto' | 'fluent-emoji-flat' | 'twemoji')[];
}

export interface ClassSpec {
  name: ClassName;
  /** generic names, each true of every glyph of the class; the first is the plain one */
  nouns: Noun[];
  /** background → relative weight; several per class, shared across classes on purpose */
  backgrounds: Partial<Record<BackgroundName, number>>;
  glyphs: GlyphSpec[];
}

const STAND = { ground: 'standing' } as const;

function g(cls: ClassName, key: string, codepoints: string | undefined, names: (string | Noun)[], zones: Zone[], pose?: GlyphSpec['pose']): GlyphSpec {
  return { key, class: cls, codepoints, names: names.map((n) => (typeof n === 'string' ? noun(n) : n)), zones, pose };
}

const SPECS: ClassSpec[] = [
  {
    name: 'aeroplane',
    nouns: [noun('aeroplane'), noun('airplane'), noun('plane'), noun('aircraft')],
    backgrounds: { sky: 4, grass: 1, water: 1, beach: 1, snow: 1, city: 1, road: 1, railway: 0.5 },
    glyphs: [
      g('aeroplane', 'airliner', '2708', ['airliner', 'jet', 'passenger jet'], ['air'], { air: 'flying' }),
      g('aeroplane', 'small-airplane', '1f6e9', ['propeller plane', 'light aircraft'], ['air'], { air: 'flying' }),
    ],
  },
  {
    name: 'bicycle',
    nouns: [noun('bicycle'), noun('bike'), noun('cycle')],
    backgrounds: { road: 3, city: 3, grass: 1, beach: 1, snow: 0.5, railway: 0.5 },
    glyphs: [g('bicycle', 'bicycle', '1f6b2', ['bicycle', 'push bike'], ['ground'])],
  },
  {
    name: 'bird',
    nouns: [noun('bird')],
    backgrounds: { sky: 2, grass: 2, water: 2, beach: 1, snow: 1, city: 1, room: 0.5, railway: 0.5 },
    glyphs: [
      g('bird', 'bird', '1f426', ['songbird'], ['air', 'ground'], { air: 'flying', ground: 'perched' }),
      g('bird', 'dove', '1f54a', ['dove', 'white dove'], ['air'], { air: 'flying' }),
      { ...g('bird', 'eagle', '1f985', ['eagle'], ['air', 'ground'], { air: 'flying', ground: 'perched' }), notIn: ['twemoji'] },
      g('bird', 'duck', '1f986', ['duck', 'mallard'], ['water', 'ground'], { water: 'swimming', ground: 'standing' }),
      g('bird', 'owl', '1f989', ['owl'], ['ground', 'air'], { ground: 'perched', air: 'flying' }),
      g('bird', 'parrot', '1f99c', ['parrot'], ['ground', 'air'], { ground: 'perched', air: 'flying' }),
      g('bird', 'swan', '1f9a2', ['swan'], ['water'], { water: 'swimming' }),
      g('bird', 'flamingo', '1f9a9', ['flamingo'], ['ground'], STAND),
      g('bird', 'peacock', '1f99a', ['peacock'], ['ground'], STAND),
      g('bird', 'penguin', '1f427', ['penguin'], ['ground'], STAND),
      g('bird', 'rooster', '1f413', ['rooster', 'cockerel'], ['ground'], STAND),
      g('bird', 'turkey', '1f983', ['turkey'], ['ground'], STAND),
      g('bird', 'baby-chick', '1f424', ['chick', 'baby chick'], ['ground'], STAND),
      g('bird', 'front-facing-baby-chick', '1f425', ['chick', 'baby chick'], ['ground'], STAND),
      g('bird', 'black-bird', '1f426-200d-2b1b', ['blackbird'], ['air', 'ground'], { air: 'flying', ground: 'perched' }),
      g('bird', 'goose', '1fabf', ['goose'], ['water', 'ground'], { water: 'swimming', ground: 'standing' }),
    ],
  },
  {
    name: 'boat',
    nouns: [noun('boat'), noun('vessel')],
    backgrounds: { water: 3, beach: 2 },
    glyphs: [
      g('boat', 'sailboat', '26f5', ['sailboat', 'sailing boat', 'yacht'], ['water'], { water: 'sailing' }),
      g('boat', 'speedboat', '1f6a4', ['speedboat'], ['water'], { water: 'floating' }),
      g('boat', 'motor-boat', '1f6e5', ['motor boat', 'motorboat'], ['water'], { water: 'floating' }),
      g('boat', 'ship', '1f6a2', ['ship', 'cruise ship'], ['water'], { water: 'floating' }),
      g('boat', 'ferry', '26f4', ['ferry'], ['water'], { water: 'floating' }),
      g('boat', 'canoe', '1f6f6', ['canoe'], ['water'], { water: 'floating' }),
    ],
  },
  {
    name: 'bottle',
    nouns: [noun('bottle')],
    backgrounds: { room: 2, kitchen: 3, beach: 1, grass: 1 },
    glyphs: [
      g('bottle', 'bottle-with-popping-cork', '1f37e', ['champagne bottle', noun('bottle of champagne', 'bottles of champagne')], ['ground']),
      g('bottle', 'baby-bottle', '1f37c', ['baby bottle', 'feeding bottle'], ['ground']),
      g('bottle', 'lotion-bottle', '1f9f4', ['lotion bottle', 'pump bottle'], ['ground']),
    ],
  },
  {
    name: 'bus',
    nouns: [noun('bus')],
    backgrounds: { road: 3, city: 3, snow: 1 },
    glyphs: [
      g('bus', 'bus', '1f68c', ['bus', 'city bus'], ['ground']),
      g('bus', 'oncoming-bus', '1f68d', ['oncoming bus'], ['ground']),
      g('bus', 'trolleybus', '1f68e', ['trolleybus'], ['ground']),
      g('bus', 'minibus', '1f690', ['minibus'], ['ground']),
    ],
  },
  {
    name: 'car',
    nouns: [noun('car'), noun('automobile')],
    backgrounds: { road: 3, city: 3, snow: 1, beach: 0.5, grass: 0.5, railway: 0.5 },
    glyphs: [
      g('car', 'automobile', '1f697', ['red car', 'sedan'], ['ground']),
      g('car', 'oncoming-automobile', '1f698', ['oncoming car'], ['ground']),
      g('car', 'sport-utility-vehicle', '1f699', ['SUV', 'jeep'], ['ground']),
      g('car', 'racing-car', '1f3ce', ['racing car', 'race car'], ['ground']),
      g('car', 'police-car', '1f693', ['police car'], ['ground']),
      g('car', 'oncoming-police-car', '1f694', ['oncoming police car'], ['ground']),
      g('car', 'taxi', '1f695', ['taxi', 'cab'], ['ground']),
      g('car', 'oncoming-taxi', '1f696', ['oncoming taxi'], ['ground']),
    ],
  },
  {
    name: 'cat',
    nouns: [noun('cat'), noun('kitty'), noun('pussycat')],
    backgrounds: { room: 3, kitchen: 2, grass: 2, snow: 1, city: 1, beach: 0.5 },
    glyphs: [
      g('cat', 'cat', '1f408', ['tabby cat', 'house cat'], ['ground'], STAND),
      g('cat', 'black-cat', '1f408-200d-2b1b', ['black cat'], ['ground'], STAND),
    ],
  },
  {
    name: 'chair',
    nouns: [noun('chair'), noun('seat')],
    backgrounds: { room: 3, kitchen: 3, grass: 1, beach: 1 },
    glyphs: [g('chair', 'chair', '1fa91', ['wooden chair', 'kitchen chair'], ['ground'])],
  },
  {
    name: 'cow',
    nouns: [noun('cow')],
    backgrounds: { grass: 3, snow: 1, road: 1, beach: 0.5, railway: 1 },
    glyphs: [
      g('cow', 'cow', '1f404', ['dairy cow', 'spotted cow'], ['ground'], STAND),
      g('cow', 'ox', '1f402', ['ox', 'bull'], ['ground'], STAND),
    ],
  },
  {
    name: 'diningtable',
    nouns: [noun('dining table'), noun('table')],
    backgrounds: { room: 3, kitchen: 3, grass: 1, beach: 0.5 },
    glyphs: [{ key: 'table', class: 'diningtable', drawn: 'table', names: [noun('dining table'), noun('kitchen table')], zones: ['ground'] }],
  },
  {
    name: 'dog',
    nouns: [noun('dog'), noun('doggy'), noun('hound')],
    backgrounds: { grass: 3, room: 2, beach: 1, snow: 1, road: 1, city: 1, kitchen: 1 },
    glyphs: [
      g('dog', 'dog', '1f415', ['dog'], ['ground'], STAND),
      g('dog', 'poodle', '1f429', ['poodle'], ['ground'], STAND),
      g('dog', 'guide-dog', '1f9ae', ['guide dog'], ['ground'], STAND),
      g('dog', 'service-dog', '1f415-200d-1f9ba', ['service dog'], ['ground'], STAND),
    ],
  },
  {
    name: 'horse',
    nouns: [noun('horse'), noun('pony'), noun('steed')],
    backgrounds: { grass: 3, snow: 1, beach: 1, road: 1, railway: 0.5 },
    glyphs: [g('horse', 'horse', '1f40e', ['galloping horse', 'racehorse'], ['ground'], { ground: 'galloping' })],
  },
  {
    name: 'motorbike',
    nouns: [noun('motorbike'), noun('motorcycle')],
    backgrounds: { road: 3, city: 3, snow: 1, grass: 0.5, beach: 0.5 },
    glyphs: [
      g('motorbike', 'motorcycle', '1f3cd', ['racing motorbike', 'sports motorcycle'], ['ground']),
      g('motorbike', 'motor-scooter', '1f6f5', ['scooter', 'moped'], ['ground']),
    ],
  },
  {
    name: 'person',
    nouns: [noun('person'), noun('figure')],
    backgrounds: { grass: 2, road: 1, city: 2, beach: 2, snow: 1, room: 2, kitchen: 1, railway: 1 },
    glyphs: [
      g('person', 'person-standing', '1f9cd', ['person', 'bystander'], ['ground'], STAND),
      g('person', 'man-standing', '1f9cd-200d-2642', ['man', 'guy'], ['ground'], STAND),
      g('person', 'woman-standing', '1f9cd-200d-2640', ['woman', 'lady'], ['ground'], STAND),
      g('person', 'person-walking', '1f6b6', ['pedestrian', 'walker'], ['ground'], { ground: 'walking' }),
      g('person', 'man-walking', '1f6b6-200d-2642', ['man', 'guy'], ['ground'], { ground: 'walking' }),
      g('person', 'woman-walking', '1f6b6-200d-2640', ['woman', 'lady'], ['ground'], { ground: 'walking' }),
      g('person', 'person-running', '1f3c3', ['runner', 'jogger'], ['ground'], { ground: 'running' }),
      g('person', 'woman-dancing', '1f483', ['dancer', 'woman'], ['ground'], { ground: 'dancing' }),
      g('person', 'man-dancing', '1f57a', ['dancer', 'man'], ['ground'], { ground: 'dancing' }),
    ],
  },
  {
    name: 'pottedplant',
    nouns: [noun('potted plant'), noun('houseplant'), noun('plant in a pot', 'plants in pots')],
    backgrounds: { room: 3, kitchen: 2, city: 1, grass: 0.5, beach: 0.5 },
    glyphs: [g('pottedplant', 'potted-plant', '1fab4', ['potted plant', 'pot plant'], ['ground'])],
  },
  {
    name: 'sheep',
    nouns: [noun('sheep'), noun('lamb')],
    backgrounds: { grass: 3, snow: 1, road: 1, beach: 1, railway: 1 },
    glyphs: [
      g('sheep', 'ewe', '1f411', ['ewe', 'woolly sheep'], ['ground'], STAND),
      g('sheep', 'ram', '1f40f', ['ram', 'horned sheep'], ['ground'], STAND),
    ],
  },
  {
    name: 'sofa',
    nouns: [noun('sofa'), noun('couch'), noun('settee')],
    backgrounds: { room: 4, kitchen: 1, grass: 0.5, beach: 0.5 },
    glyphs: [{ key: 'sofa', class: 'sofa', drawn: 'sofa', names: [noun('sofa'), noun('couch')], zones: ['ground'] }],
  },
  {
    name: 'train',
    nouns: [noun('train')],
    backgrounds: { railway: 1 },
    glyphs: [
      g('train', 'train', '1f686', ['passenger train'], ['rail']),
      g('train', 'locomotive', '1f682', ['steam locomotive', 'steam engine'], ['rail']),
      g('train', 'high-speed-train', '1f684', ['high-speed train', 'express train'], ['rail']),
      g('train', 'bullet-train', '1f685', ['bullet train'], ['rail']),
      g('train', 'light-rail', '1f688', ['light rail train', 'commuter train'], ['rail']),
      g('train', 'monorail', '1f69d', ['monorail'], ['rail']),
      g('train', 'railway-car', '1f683', ['railway carriage', 'railway wagon'], ['rail']),
      g('train', 'tram-car', '1f68b', ['tram', 'streetcar'], ['rail']),
    ],
  },
  {
    name: 'tvmonitor',
    nouns: [noun('tv monitor'), noun('monitor'), noun('screen')],
    backgrounds: { room: 4, kitchen: 1 },
    glyphs: [
      g('tvmonitor', 'television', '1f4fa', ['television', 'tv', 'tv set'], ['ground']),
      g('tvmonitor', 'desktop-computer', '1f5a5', ['computer monitor', 'computer screen', 'desktop computer'], ['ground']),
    ],
  },
];

export const CLASS_SPECS: ReadonlyMap<ClassName, ClassSpec> = new Map(SPECS.map((s) => [s.name, s]));

export function classSpec(name: ClassName): ClassSpec {
  const s = CLASS_SPECS.get(name);
  if (!s) throw new Error(`unknown scenes class ${name}`);
  return s;
}

export const GLYPHS: readonly GlyphSpec[] = SPECS.flatMap((s) => s.glyphs);
export const GLYPH_BY_KEY: ReadonlyMap<string, GlyphSpec> = new Map(GLYPHS.map((gl) => [gl.key, gl]));

/**
 * Every noun phrase (singular and plural, lowercase) that names a class, generic or glyph-level,
 * mapped to its class. Captions use only these to name objects, so a reader (or a test) can map
 * any caption back to classes.
 */
export function nounLexicon(): Map<string, ClassName> {
  const out = new Map<string, ClassName>();
  const put = (phrase: string, cls: ClassName) => {
    const k = phrase.toLowerCase();
    const had = out.get(k);
    if (had && had !== cls) throw new Error(`noun ${JSON.stringify(k)} names both ${had} and ${cls}`);
    out.set(k, cls);
  };
  for (const s of SPECS) {
    for (const n of s.nouns) (put(n.s, s.name), put(n.p, s.name));
    for (const gl of s.glyphs) for (const n of gl.names) (put(n.s, s.name), put(n.p, s.name));
  }
  return out;
}

/**
 * Image-level class frequencies of PASCAL VOC 2012 trainval (images containing each class), used
 * by `--balance natural` so that train looks like the real dataset's long tail.
 */
export const VOC_FREQUENCY: Record<ClassName, number> = {
  aeroplane: 670, bicycle: 552, bird: 765, boat: 508, bottle: 706, bus: 421, car: 1161, cat: 1080, chair: 1119, cow: 303,
  diningtable: 538, dog: 1286, horse: 482, motorbike: 526, person: 4087, pottedplant: 527, sheep: 325, sofa: 507, train: 544, tvmonitor: 575,
};
