import type { ManifestEntry, Split } from './dataset.js';

/**
 * What each class of a dataset split is like, to explain why some attack goals A>B are harder than
 * others (the paper's Figure 5b). Two traits, one per side of a goal:
 * - a target B shown in the other classes' images (their `labels` hold B): the paper's reason why
 *   A2person is hard — those images outrank B's own, and MinRank counts only B's own (`label`);
 * - a source A's own words: the more ways A's captions have of saying it, the less of them ten
 *   poisoned captions cover. A word is A's own when at least half of the split's captions holding
 *   it are of A's images, and it is in at least OWN_WORD_MIN_CAPTIONS of them (not a one-off).
 */
export interface ClassTraits {
  split: Split;
  classes: string[];
  /** per class: images of the split labelled with it */
  images: number[];
  /** per class: share of the split's images of the other classes that show it too */
  shownElsewhere: Array<number | null>;
  /** per class: how many of the split's caption words are its own (see above) */
  ownWords: number[];
}

export const OWN_WORD_MIN_CAPTIONS = 5;

const words = (caption: string): Set<string> => new Set(caption.toLowerCase().match(/\p{L}+/gu) ?? []);

export function classTraits(entries: readonly ManifestEntry[], classes: readonly string[], split: Split): ClassTraits {
  const inSplit = entries.filter((e) => e.split === split && e.label !== null);
  const images = classes.map((c) => inSplit.filter((e) => e.label === c).length);
  const shownElsewhere = classes.map((c, k) => {
    const others = inSplit.length - images[k];
    return others > 0 ? inSplit.filter((e) => e.label !== c && e.labels.includes(c)).length / others : null;
  });
  return { split, classes: [...classes], images, shownElsewhere, ownWords: ownWordCounts(inSplit, classes) };
}

function ownWordCounts(entries: readonly ManifestEntry[], classes: readonly string[]): number[] {
  const byWord = new Map<string, Map<string, number>>();
  for (const e of entries) {
    for (const caption of e.captions) {
      for (const w of words(caption)) {
        const per = byWord.get(w) ?? new Map<string, number>();
        per.set(e.label!, (per.get(e.label!) ?? 0) + 1);
        byWord.set(w, per);
      }
    }
  }
  const own = new Map(classes.map((c) => [c, 0]));
  for (const per of byWord.values()) {
    const total = [...per.values()].reduce((a, b) => a + b, 0);
    if (total < OWN_WORD_MIN_CAPTIONS) continue;
    for (const [c, n] of per) if (own.has(c) && n / total >= 0.5) own.set(c, own.get(c)! + 1);
  }
  return classes.map((c) => own.get(c)!);
}
