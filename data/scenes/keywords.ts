import { CLASSES, classSpec, type ClassName } from './catalogue.js';
import { noun } from './words.js';

/**
 * Labels found by keyword search over captions, as the paper labelled Visual Genome (Yang et al.,
 * ICML 2023, §5 "Transferability"): "to find images of sheep class, we first find all texts in VG
 * that contain 'sheep', 'lamb', or 'goat'. We consider images paired with such a text to belong to
 * class sheep. The keywords for aeroplane class are 'plane' and 'jet'."
 *
 * The rule here:
 *  - an image belongs to every class whose keywords occur in at least one of its captions
 *    (`labels`, in class order);
 *  - `label` (the one class attacks and evaluation use) is the class named by the most of its
 *    captions; a tie goes to the class named first (caption order, then word order);
 *  - no caption names a class: `label` null, `labels` empty.
 *
 * Keywords are matched as whole words (a keyword's plural too; multi-word keywords as a run of
 * words), not as substrings: the paper says "contain", but substring search would find a car in
 * every "cartoon" and a bicycle in every "motorbike". For sheep and aeroplane the lists are the
 * paper's (sheep/lamb/goat; plane/jet, plus airplane and aeroplane, which "plane" finds as a
 * substring). The other lists are the class name and the synonyms one would type; they are
 * deliberately not every name the captions use (a "ram", a "settee", a "flamingo" or a
 * "bystander" is not found, as a VG keyword search misses what its list lacks), and the dataset
 * card records which caption nouns no keyword finds.
 */
export const CLASS_KEYWORDS: Record<ClassName, readonly string[]> = {
  aeroplane: ['plane', 'jet', 'airplane', 'aeroplane'],
  bicycle: ['bicycle', 'bike', 'cycle'],
  bird: ['bird', 'duck', 'swan', 'goose', 'owl', 'parrot', 'eagle', 'dove', 'pigeon', 'penguin', 'chick', 'chicken', 'rooster', 'hen', 'gull'],
  boat: ['boat', 'ship', 'sailboat', 'yacht', 'ferry', 'canoe', 'kayak', 'speedboat', 'motorboat'],
  bottle: ['bottle'],
  bus: ['bus'],
  car: ['car', 'taxi', 'suv', 'jeep', 'sedan'],
  cat: ['cat', 'kitten', 'kitty'],
  chair: ['chair'],
  cow: ['cow', 'cattle', 'bull', 'ox', 'calf'],
  diningtable: ['table', 'dining table'],
  dog: ['dog', 'puppy', 'poodle', 'hound'],
  horse: ['horse', 'pony', 'foal'],
  motorbike: ['motorbike', 'motorcycle', 'scooter', 'moped'],
  person: ['person', 'man', 'woman', 'guy', 'lady', 'boy', 'girl', 'child', 'pedestrian'],
  pottedplant: ['plant', 'houseplant', 'potted plant'],
  sheep: ['sheep', 'lamb', 'goat'],
  sofa: ['sofa', 'couch'],
  train: ['train', 'locomotive', 'tram'],
  tvmonitor: ['tv', 'television', 'monitor', 'screen'],
};

/** Lower-case words of a text ("High-speed train!" → high, speed, train). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+/g) ?? [];
}

interface Pattern {
  cls: ClassName;
  /** the keyword's words, the last one in any of its forms */
  head: string[];
  last: Set<string>;
}

const PATTERNS: Pattern[] = CLASSES.flatMap((cls) =>
  CLASS_KEYWORDS[cls].map((k) => {
    const ws = words(k);
    const n = noun(k);
    return { cls, head: ws.slice(0, -1), last: new Set([ws[ws.length - 1], words(n.p).pop()!]) };
  }),
);

/** The classes a text names, each with the word position of its first keyword, in text order. */
export function keywordHits(text: string): { cls: ClassName; at: number }[] {
  const ws = words(text);
  const first = new Map<ClassName, number>();
  for (let i = 0; i < ws.length; i++) {
    for (const p of PATTERNS) {
      if (first.has(p.cls) || !p.last.has(ws[i])) continue;
      const start = i - p.head.length;
      if (start < 0 || p.head.some((w, j) => ws[start + j] !== w)) continue;
      first.set(p.cls, start);
    }
  }
  return [...first].map(([cls, at]) => ({ cls, at })).sort((a, b) => a.at - b.at);
}

export interface KeywordLabels {
  label: ClassName | null;
  labels: ClassName[];
  /** captions naming each class */
  captions: Partial<Record<ClassName, number>>;
}

/** The paper's VG labelling of one image from its captions (see the rule above). */
export function keywordLabels(captions: readonly string[]): KeywordLabels {
  const count = new Map<ClassName, number>();
  const order: ClassName[] = [];
  for (const c of captions) {
    for (const { cls } of keywordHits(c)) {
      if (!count.has(cls)) order.push(cls);
      count.set(cls, (count.get(cls) ?? 0) + 1);
    }
  }
  let label: ClassName | null = null;
  for (const cls of order) if (label === null || count.get(cls)! > count.get(label)!) label = cls;
  return {
    label,
    labels: CLASSES.filter((c) => count.has(c)),
    captions: Object.fromEntries([...count].sort(([a], [b]) => CLASSES.indexOf(a) - CLASSES.indexOf(b))),
  };
}

/** Per class, the names captions may call it (catalogue nouns and glyph names) that its keywords do not find. */
export function keywordMisses(): Partial<Record<ClassName, string[]>> {
  const out: Partial<Record<ClassName, string[]>> = {};
  for (const cls of CLASSES) {
    const spec = classSpec(cls);
    const names = [...new Set([...spec.nouns, ...spec.glyphs.flatMap((g) => g.names)].map((n) => n.s.toLowerCase()))];
    const missed = names.filter((n) => !keywordHits(n).some((h) => h.cls === cls));
    if (missed.length) out[cls] = missed;
  }
  return out;
}
