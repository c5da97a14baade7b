/**
 * Small English helpers for captions: nouns with their plurals, articles, number words, lists.
 * Kept apart from the catalogue so captions and the caption checker share one grammar.
 */
export interface Noun {
  /** singular, e.g. "sheep", "police car" */
  s: string;
  /** plural, e.g. "sheep", "police cars" */
  p: string;
}

const IRREGULAR: Record<string, string> = {
  sheep: 'sheep',
  person: 'people',
  man: 'men',
  woman: 'women',
  ox: 'oxen',
  goose: 'geese',
  bus: 'buses',
  minibus: 'minibuses',
  trolleybus: 'trolleybuses',
  'light aircraft': 'light aircraft',
  aircraft: 'aircraft',
  'bullet train': 'bullet trains',
  'tv set': 'tv sets',
  tv: 'tvs',
  couch: 'couches',
};

/** Builds a noun; the plural is regular unless the last word is irregular. */
export function noun(s: string, p?: string): Noun {
  if (p) return { s, p };
  if (IRREGULAR[s]) return { s, p: IRREGULAR[s] };
  const words = s.split(' ');
  const last = words[words.length - 1];
  const plural = IRREGULAR[last] ?? (/(s|x|ch|sh)$/.test(last) ? `${last}es` : /[^aeiou]y$/.test(last) ? `${last.slice(0, -1)}ies` : `${last}s`);
  words[words.length - 1] = plural;
  return { s, p: words.join(' ') };
}

/** Words that start with a vowel letter but a consonant sound, and the reverse. */
const A_BEFORE = new Set(['ewe', 'one', 'unicorn', 'uniform', 'european']);
const AN_BEFORE = new Set(['suv', 'hour']);

export function article(phrase: string): 'a' | 'an' {
  const first = phrase.split(' ')[0].toLowerCase();
  if (A_BEFORE.has(first)) return 'a';
  if (AN_BEFORE.has(first)) return 'an';
  return /^[aeiou]/.test(first) ? 'an' : 'a';
}

export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five'] as const;

/** "a ewe" / "two sheep" / with adjectives before the noun: "a large flat ewe". */
export function counted(n: number, nn: Noun, adjectives: string[] = []): string {
  const head = [...adjectives, n === 1 ? nn.s : nn.p].join(' ');
  return n === 1 ? `${article(head)} ${head}` : `${NUMBER_WORDS[n]} ${head}`;
}

/** "a", "a and b", "a, b and c". */
export function joinList(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
