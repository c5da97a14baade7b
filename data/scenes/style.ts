import type { BackgroundName } from './catalogue.js';
import type { EmojiSetId } from './artsets.js';

/**
 * The generator's two worlds. `sentences` is the default world (Flickr-PASCAL-like: one to three
 * large objects, five full-sentence captions, label = the largest object). `regions` is a second
 * world unlike it, the way Visual Genome is unlike Flickr-PASCAL (the paper's Table 6 transfer and
 * Figure 7 sterilisation dataset): five short region phrases per image ("white dove", "sheep on
 * grass", "car near bus", "blue sky"), two to five smaller objects, another mix of art sets and
 * backgrounds, its own seed stream, and labels found by keyword search over the captions, as the
 * paper labelled VG (keywords.ts). Same 20 classes, same split logic, same renderer.
 */
export const SCENE_STYLES = ['sentences', 'regions'] as const;
export type SceneStyle = (typeof SCENE_STYLES)[number];
export const DEFAULT_STYLE: SceneStyle = 'sentences';

/** What layout.ts draws from: every number the planner uses that a style may change. */
export interface LayoutConfig {
  /** asked-for object counts and their weights (a companion may find no room) */
  objectCounts: [number, number][];
  /** fewer placed objects than this: draw the scene again (1: accept what was placed) */
  minObjects: number;
  /** longest side of the main object, as a fraction of the image, by asked count */
  mainExtent: Record<number, [number, number]>;
  /** companions: [low, cap]; the high end is min(cap, 0.85 × the main object's extent) */
  companionExtent: [number, number];
  /** below these extents a placement gives up */
  minExtent: { main: number; companion: number };
  /** chance that a companion is of the main object's class */
  sameClassCompanion: number;
  /** boxes may overlap by at most this share of the smaller one */
  maxOverlap: number;
  /** relative weights of the emoji art sets (null: each equally likely, the default's draw) */
  artSetWeights: Record<EmojiSetId, number> | null;
  /** multipliers of each class's background weights (null: the catalogue's weights as they are) */
  backgroundWeights: Partial<Record<BackgroundName, number>> | null;
  /** chance of an evening sky outdoors */
  sunsetChance: number;
}

/** The default world's layout (the constants layout.ts has always used). */
export const SENTENCES_LAYOUT: LayoutConfig = {
  // asked-for counts; a third object often finds no room, so about 1: 50%, 2: 36%, 3: 14% result
  objectCounts: [[1, 0.45], [2, 0.3], [3, 0.25]],
  minObjects: 1,
  mainExtent: { 1: [0.55, 0.75], 2: [0.5, 0.66], 3: [0.46, 0.58] },
  companionExtent: [0.34, 0.5],
  minExtent: { main: 0.42, companion: 0.3 },
  sameClassCompanion: 0.4,
  maxOverlap: 0.25,
  artSetWeights: null,
  backgroundWeights: null,
  sunsetChance: 0.2,
};

/**
 * The second world's layout: more and smaller objects (VG images hold many objects, each region
 * small), Twemoji-heavy art, streets, roads, rooms and railways more often and fields, skies and
 * snow less (VG's photos are mostly urban and indoor), fewer sunsets.
 */
export const REGIONS_LAYOUT: LayoutConfig = {
  objectCounts: [[2, 0.25], [3, 0.3], [4, 0.25], [5, 0.2]],
  minObjects: 2,
  mainExtent: { 2: [0.44, 0.56], 3: [0.4, 0.5], 4: [0.37, 0.46], 5: [0.35, 0.43] },
  companionExtent: [0.25, 0.4],
  minExtent: { main: 0.32, companion: 0.2 },
  sameClassCompanion: 0.3,
  maxOverlap: 0.3,
  artSetWeights: { noto: 0.2, 'fluent-emoji-flat': 0.3, twemoji: 0.5 },
  backgroundWeights: { sky: 0.5, grass: 0.6, water: 1, beach: 0.7, snow: 0.5, road: 2, city: 2.5, railway: 1.5, room: 1.5, kitchen: 1.5 },
  sunsetChance: 0.1,
};

export function layoutOf(style: SceneStyle): LayoutConfig {
  return style === 'regions' ? REGIONS_LAYOUT : SENTENCES_LAYOUT;
}

/**
 * The prefix of every seed stream of a style: the default's is `scenes` (as it has always been),
 * the second world's `scenes-regions`, so the same --seed gives unrelated worlds.
 */
export function streamPrefix(style: SceneStyle): string {
  return style === 'regions' ? 'scenes-regions' : 'scenes';
}

/** The range of objects per image a layout places. */
export function objectRange(l: LayoutConfig): [number, number] {
  return [l.minObjects, Math.max(...l.objectCounts.map(([n]) => n))];
}
