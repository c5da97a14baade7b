/**
 * An independent reader of scenes captions for the tests: it finds every object noun in a
 * caption, reads the count word before it, and checks the counts, classes, adjectives and
 * positions it claims against the manifest's meta. It shares only the vocabulary (which words
 * name which class, which words are modifiers) with the generator, not its grammar.
 */
import { CLASS_SPECS, nounLexicon, type ClassName } from '../../data/scenes/catalogue.js';
import { CAPTION_MODIFIERS } from '../../data/scenes/captions.js';
import { STYLE_WORDS } from '../../data/scenes/artsets.js';

export interface MetaObject {
  class: ClassName;
  glyph: string;
  style: string;
  size: string;
  zone: string;
  pose?: string;
  colour?: string;
  box: [number, number, number, number];
}
export interface SceneMeta {
  size: number;
  background: string;
  scene: { variant?: string; sunset?: boolean; clouds: number };
  objects: MetaObject[];
}

const QUANTITY: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3 };

const lexicon = nounLexicon();
const nouns = [...lexicon.keys()].map((k) => k.split(' ')).sort((a, b) => b.length - a.length);

export interface Mention {
  cls: ClassName;
  words: string;
  count: number;
  modifiers: string[];
  /** token index of the noun's first word */
  at: number;
}

export function tokens(caption: string): string[] {
  return caption.toLowerCase().replace(/[,:;.]/g, ' ').split(/\s+/).filter(Boolean);
}

/** Every object noun of a caption with its count; throws on a noun without a count word. */
export function mentions(caption: string): { found: Mention[]; inNoun: Set<number> } {
  const t = tokens(caption);
  const found: Mention[] = [];
  const inNoun = new Set<number>();
  for (let i = 0; i < t.length; ) {
    const match = nouns.find((n) => n.every((w, j) => t[i + j] === w));
    if (!match) {
      i++;
      continue;
    }
    const modifiers: string[] = [];
    let j = i - 1;
    while (j >= 0 && CAPTION_MODIFIERS.has(t[j])) modifiers.unshift(t[j--]);
    const count = j >= 0 ? QUANTITY[t[j]] : undefined;
    if (count === undefined) throw new Error(`"${match.join(' ')}" without a count word in: ${caption}`);
    found.push({ cls: lexicon.get(match.join(' '))!, words: match.join(' '), count, modifiers, at: i });
    for (let k = 0; k < match.length; k++) inNoun.add(i + k);
    i += match.length;
  }
  return { found, inNoun };
}

const centreX = (o: MetaObject) => (o.box[0] + o.box[2]) / 2;
const centreY = (o: MetaObject) => (o.box[1] + o.box[3]) / 2;

/** Is there a way to give each mention its own object of its class such that `ok` holds? */
function assignable(ms: Mention[], objs: MetaObject[], ok: (chosen: MetaObject[]) => boolean, chosen: MetaObject[] = []): boolean {
  if (chosen.length === ms.length) return ok(chosen);
  const m = ms[chosen.length];
  return objs.some((o) => names(m, o) && !chosen.includes(o) && assignable(ms, objs, ok, [...chosen, o]));
}

/** Glyph-level names → the glyphs they name (class-level nouns are absent: any glyph). */
const GLYPHS_NAMED = new Map<string, Set<string>>();
for (const spec of CLASS_SPECS.values()) {
  const generic = new Set(spec.nouns.flatMap((n) => [n.s.toLowerCase(), n.p.toLowerCase()]));
  for (const g of spec.glyphs)
    for (const n of g.names)
      for (const w of [n.s.toLowerCase(), n.p.toLowerCase()]) {
        if (generic.has(w)) continue;
        (GLYPHS_NAMED.get(w) ?? GLYPHS_NAMED.set(w, new Set()).get(w)!).add(g.key);
      }
}

/** Can mention `m` name object `o`? */
function names(m: Mention, o: MetaObject): boolean {
  const glyphs = GLYPHS_NAMED.get(m.words);
  return o.class === m.cls && (!glyphs || glyphs.has(o.glyph));
}

const STYLE_OF = new Map(Object.entries(STYLE_WORDS).flatMap(([style, words]) => words.map((w) => [w, style])));
const SIZE_OF: Record<string, string> = { large: 'large', big: 'large', small: 'small', little: 'small' };

const RELATIONS = ['to the left of', 'to the right of', 'above', 'below'];

/** The relation word between two objects in `caption`, if any: it must be followed by a mention. */
function relation(caption: string, found: Mention[]): [string, string] | null {
  const t = tokens(caption);
  for (let i = 0; i < t.length; i++) {
    for (const r of RELATIONS) {
      const words = r.split(' ');
      if (!words.every((w, j) => t[i + j] === w)) continue;
      let k = i + words.length;
      if (QUANTITY[t[k]] === undefined) continue;
      k++;
      while (CAPTION_MODIFIERS.has(t[k])) k++;
      if (found.some((m) => m.at === k)) return [r, r];
    }
  }
  return null;
}

/** Returns the list of problems with `caption` as a description of `meta` (empty: true). */
export function checkCaption(caption: string, meta: SceneMeta): string[] {
  const problems: string[] = [];
  let found: Mention[];
  try {
    found = mentions(caption).found;
  } catch (err) {
    return [(err as Error).message];
  }
  // counts per class, against the objects
  const claimed = new Map<string, number>();
  for (const m of found) claimed.set(m.cls, (claimed.get(m.cls) ?? 0) + m.count);
  const actual = new Map<string, number>();
  for (const o of meta.objects) actual.set(o.class, (actual.get(o.class) ?? 0) + 1);
  for (const [cls, n] of claimed) if (actual.get(cls) !== n) problems.push(`claims ${n} ${cls}, picture has ${actual.get(cls) ?? 0}`);
  for (const [cls, n] of actual) if (!claimed.has(cls)) problems.push(`omits ${n} ${cls}`);
  // glyph-level names: each named object is a distinct object that has that glyph
  const each = found.flatMap((m) => Array<Mention>(m.count).fill(m));
  if (each.length === meta.objects.length && !assignable(each, meta.objects, () => true)) problems.push('the named glyphs are not the objects drawn');
  // adjectives: each must be true of some object the noun can name (a glyph name: that glyph)
  for (const m of found) {
    const objs = meta.objects.filter((o) => names(m, o));
    for (const w of m.modifiers) {
      const ok = STYLE_OF.has(w)
        ? objs.some((o) => o.style === STYLE_OF.get(w))
        : SIZE_OF[w]
          ? objs.some((o) => o.size === SIZE_OF[w])
          : objs.some((o) => o.colour === w);
      if (!ok) problems.push(`"${w} ${m.words}" is not true of any ${m.cls}`);
    }
  }
  const S = meta.size;
  const text = ` ${caption.toLowerCase()} `;
  // relations between two named objects
  // ("above a country road" is a place, not a relation: a relation's next noun is an object)
  const rel = relation(caption, found);
  if (rel && found.length === 2 && !text.includes('from left to right')) {
    const [a, b] = found;
    const test = ({ 'to the left of': (p: MetaObject, q: MetaObject) => centreX(p) < centreX(q), 'to the right of': (p: MetaObject, q: MetaObject) => centreX(p) > centreX(q), above: (p: MetaObject, q: MetaObject) => centreY(p) < centreY(q), below: (p: MetaObject, q: MetaObject) => centreY(p) > centreY(q) } as const)[rel[1] as 'above'];
    if (!assignable([a, b], meta.objects, ([p, q]) => test(p, q))) problems.push(`relation "${rel[1]}" does not hold`);
  }
  if (text.includes('from left to right')) {
    if (!assignable(found, meta.objects, (ch) => ch.every((o, i) => i === 0 || centreX(ch[i - 1]) < centreX(o)))) problems.push('left-to-right order does not hold');
  }
  // where one lone object is in the frame
  if (meta.objects.length === 1) {
    const x = centreX(meta.objects[0]) / S;
    if (/ (on the left|left side|left half) /.test(text) && !(x < 0.5)) problems.push('says left, object is not');
    if (/ (on the right|right side|right half) /.test(text) && !(x > 0.5)) problems.push('says right, object is not');
    if (/ in the (middle|centre)/.test(text) && !(Math.abs(x - 0.5) < 0.1)) problems.push('says middle, object is not');
  }
  // verbs of pose, outside nouns ("sailing boat" is a noun)
  const { inNoun } = mentions(caption);
  const poses = new Set(meta.objects.map((o) => o.pose).filter(Boolean));
  tokens(caption).forEach((w, i) => {
    if (!inNoun.has(i) && ['standing', 'walking', 'running', 'dancing', 'flying', 'perched', 'swimming', 'floating', 'sailing', 'galloping'].includes(w) && !poses.has(w)) {
      problems.push(`"${w}" but no object is ${w}`);
    }
  });
  // the place's details
  if (/ (sunset|dusk|evening) /.test(text) && !meta.scene.sunset) problems.push('evening light claimed, not there');
  const walls = text.match(/ with (\w+) (walls|tiles)/);
  if (walls && walls[1] !== meta.scene.variant) problems.push(`${walls[1]} ${walls[2]} claimed, they are ${meta.scene.variant}`);
  return problems;
}
