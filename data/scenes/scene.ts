import { Rng, hashString } from '../../core/random.js';
import type { ManifestEntry, Split } from '../dataset.js';
import type { ClassName } from './catalogue.js';
import { Atlas, glyphKey, type AtlasData } from './atlas.js';
import { planScene, type PlacedObject, type ScenePlan } from './layout.js';
import { captionScene } from './captions.js';
import { regionCaptions } from './regions.js';
import { keywordLabels } from './keywords.js';
import { DEFAULT_STYLE, layoutOf, streamPrefix, type LayoutConfig, type SceneStyle } from './style.js';
import { renderScene } from './render.js';
import { encodePngRgb } from './png-encoder.js';

/** One image to make: its position in the manifest, its split and its main class. */
export interface SceneJob {
  index: number;
  split: Split;
  main: ClassName;
}

export interface MadeScene {
  entry: ManifestEntry;
  png: Buffer;
}

export function sceneId(index: number): string {
  return String(index).padStart(6, '0');
}

/** Images sit in folders of 1,000 so that no folder grows to 200,000 entries. */
export function sceneFile(index: number): string {
  return `images/${String(Math.floor(index / 1000)).padStart(3, '0')}/${sceneId(index)}.png`;
}

/**
 * Makes scenes: plan, captions, pixels, PNG. A scene depends only on (style, seed, index, main
 * class, size), never on which thread or in which order it is made, so workers give the same bytes.
 */
export class SceneMaker {
  private readonly atlas: Atlas;
  private readonly layout: LayoutConfig;
  private readonly prefix: string;

  constructor(
    readonly size: number,
    readonly seed: number,
    atlas: AtlasData,
    readonly style: SceneStyle = DEFAULT_STYLE,
  ) {
    if (atlas.resolution !== size) throw new Error(`atlas for ${atlas.resolution} px images, not ${size}`);
    this.atlas = new Atlas(atlas);
    this.layout = layoutOf(style);
    this.prefix = streamPrefix(style);
  }

  plan(job: SceneJob): ScenePlan {
    const rng = new Rng(hashString(`${this.prefix}/${this.seed}/${job.index}`));
    return planScene(rng, job.main, this.size, (set, glyph, drawn) => this.atlas.box(glyphKey(set, glyph.key, drawn)), this.layout);
  }

  make(job: SceneJob): MadeScene {
    const plan = this.plan(job);
    // captions draw from their own stream: rewording captions never moves a pixel
    const captionRng = new Rng(hashString(`${this.prefix}/${this.seed}/${job.index}/captions`));
    const px = renderScene(plan, plan.objects.map((o) => this.atlas.raster(glyphKey(o.set, o.glyph, o.drawn))));
    const base = { id: sceneId(job.index), file: sceneFile(job.index), split: job.split };
    let entry: ManifestEntry;
    if (this.style === 'regions') {
      // the second world: region phrases, labelled by keyword search over them (keywords.ts)
      const { captions, regions } = regionCaptions(plan, captionRng);
      const found = keywordLabels(captions);
      entry = { ...base, label: found.label, labels: found.labels, captions, meta: { ...sceneMeta(plan), style: this.style, regions, keywordCaptions: found.captions } };
    } else {
      const captions = captionScene(plan, captionRng);
      const labels = [...new Set(plan.objects.map((o) => o.class))].sort();
      entry = { ...base, label: plan.objects[0].class, labels, captions, meta: sceneMeta(plan) };
    }
    return { entry, png: encodePngRgb(px, this.size, this.size) };
  }
}

/** What the manifest records of a plan: everything captions rely on, nothing of the renderer's. */
export function sceneMeta(plan: ScenePlan): Record<string, unknown> {
  const { seed: _seed, ...scene } = plan.background;
  return {
    size: plan.size,
    background: plan.background.name,
    scene,
    objects: plan.objects.map((o: PlacedObject) => ({
      class: o.class,
      glyph: o.glyph,
      set: o.set,
      style: o.style,
      ...(o.drawn ? { colour: o.drawn.colour, ...(o.drawn.kind === 'sofa' ? { seats: o.drawn.seats } : { cloth: o.drawn.cloth, laid: o.drawn.laid }) } : {}),
      zone: o.zone,
      ...(o.pose ? { pose: o.pose } : {}),
      box: o.box,
      size: o.size,
      extent: o.extent,
      flip: o.flip,
      rotation: o.rotation,
    })),
  };
}
