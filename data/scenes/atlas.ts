import sharp from 'sharp';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { sha256, writeFileAtomic, writeJsonAtomic } from '../../core/fsutil.js';
import { DRAWN_SET, loadEmojiSvgs, type SetId } from './artsets.js';
import { allDrawnVariants, drawnKey, drawnSvg, type DrawnVariant } from './drawn.js';

/**
 * Every glyph variant (each emoji in each art set, each drawn sofa and table) rasterised once
 * per image size into one shared buffer of premultiplied RGBA squares. librsvg is slow per call
 * (~5 ms, mostly fixed cost), so the atlas is built once, cached in the workspace, and shared
 * with render workers without copying (a SharedArrayBuffer); each thread derives mip levels
 * lazily. Scenes then scale and rotate glyphs in JS and never call librsvg.
 */
export interface AtlasData {
  /**
   * side of each square raster: the image size. A glyph's canvas is drawn at most ~0.95× the
   * image (the largest object, 0.75 of the image, over the glyph's ≥ 0.8 visible share), so
   * draws are reductions (or a hair above 1×), and the atlas stays small: 5 MB at 64 px.
   */
  resolution: number;
  keys: string[];
  /** per key: tight box of the visible pixels, fractions of the canvas [x0, y0, x1, y1] */
  boxes: [number, number, number, number][];
  /** keys.length squares of resolution² RGBA, premultiplied */
  pixels: SharedArrayBuffer;
}

export interface MipLevel {
  size: number;
  data: Uint8Array;
}

export interface GlyphRaster {
  levels: MipLevel[];
  box: [number, number, number, number];
}

/** Bumped when rasterising changes, so cached atlases are rebuilt. */
const ATLAS_VERSION = 1;
/** Pixels with less alpha than this do not count toward an object's box. */
const VISIBLE_ALPHA = 24;

export function glyphKey(set: SetId, glyph: string, drawn?: DrawnVariant): string {
  return set === DRAWN_SET ? `drawn:${drawnKey(drawn!)}` : `${set}:${glyph}`;
}

function allSvgs(cacheDir?: string): [string, string][] {
  const { svgs } = loadEmojiSvgs(cacheDir);
  return [...svgs.map((s) => [`${s.set}:${s.glyph}`, s.svg] as [string, string]), ...allDrawnVariants().map((v) => [`drawn:${drawnKey(v)}`, drawnSvg(v)] as [string, string])];
}

const memo = new Map<string, Promise<AtlasData>>();

/** The atlas for images of `size` px: from memory, from `cacheDir`, or rasterised now. */
export function loadAtlas(size: number, cacheDir?: string): Promise<AtlasData> {
  const svgs = allSvgs(cacheDir);
  const resolution = size;
  const key = sha256(JSON.stringify({ v: ATLAS_VERSION, resolution, svgs, sharp: sharp.versions })).slice(0, 16);
  let p = memo.get(key);
  if (!p) {
    p = fromCacheOrBuild(svgs, resolution, key, cacheDir);
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

async function fromCacheOrBuild(svgs: [string, string][], resolution: number, key: string, cacheDir?: string): Promise<AtlasData> {
  const base = cacheDir ? join(cacheDir, `scenes-atlas-${resolution}-${key}`) : null;
  if (base && existsSync(`${base}.json`) && existsSync(`${base}.bin`)) {
    try {
      const head = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as Omit<AtlasData, 'pixels'>;
      const raw = inflateSync(readFileSync(`${base}.bin`));
      const pixels = new SharedArrayBuffer(raw.length);
      new Uint8Array(pixels).set(raw);
      if (raw.length === head.keys.length * resolution * resolution * 4) return { ...head, pixels };
    } catch {
      // a damaged cache is rebuilt below
    }
  }
  const atlas = await buildAtlas(svgs, resolution);
  if (base) {
    writeFileAtomic(`${base}.bin`, deflateSync(new Uint8Array(atlas.pixels), { level: 1 }));
    writeJsonAtomic(`${base}.json`, { resolution, keys: atlas.keys, boxes: atlas.boxes });
  }
  return atlas;
}

async function buildAtlas(svgs: [string, string][], res: number): Promise<AtlasData> {
  const square = res * res * 4;
  const pixels = new SharedArrayBuffer(svgs.length * square);
  const boxes: AtlasData['boxes'] = new Array(svgs.length);
  let next = 0;
  // a few at a time: librsvg runs on libuv's thread pool
  const lane = async () => {
    for (let i = next++; i < svgs.length; i = next++) {
      const sized = svgs[i][1].replace(/^<svg /, `<svg width="${res}" height="${res}" `);
      const { data, info } = await sharp(Buffer.from(sized)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      if (info.width !== res || info.height !== res || info.channels !== 4) throw new Error(`unexpected raster of ${svgs[i][0]}: ${info.width}x${info.height}x${info.channels}`);
      const out = new Uint8Array(pixels, i * square, square);
      boxes[i] = premultiply(data, out, res, svgs[i][0]);
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
  return { resolution: res, keys: svgs.map(([k]) => k), boxes, pixels };
}

function premultiply(src: Uint8Array, out: Uint8Array, res: number, key: string): [number, number, number, number] {
  let x0 = res, y0 = res, x1 = -1, y1 = -1;
  for (let y = 0; y < res; y++) {
    for (let x = 0; x < res; x++) {
      const i = (y * res + x) * 4;
      const a = src[i + 3];
      if (a >= VISIBLE_ALPHA) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
      // premultiplied, so bilinear taps and mip averages do not bleed dark fringes
      out[i] = Math.round((src[i] * a) / 255);
      out[i + 1] = Math.round((src[i + 1] * a) / 255);
      out[i + 2] = Math.round((src[i + 2] * a) / 255);
      out[i + 3] = a;
    }
  }
  if (x1 < 0) throw new Error(`glyph ${key} rasterised to nothing`);
  return [x0 / res, y0 / res, (x1 + 1) / res, (y1 + 1) / res];
}

/** A thread's view of the atlas: boxes at once, mip chains on first use. */
export class Atlas {
  private readonly index = new Map<string, number>();
  private readonly rasters = new Map<number, GlyphRaster>();

  constructor(readonly data: AtlasData) {
    data.keys.forEach((k, i) => this.index.set(k, i));
  }

  private slot(key: string): number {
    const i = this.index.get(key);
    if (i === undefined) throw new Error(`glyph ${key} is not in the atlas`);
    return i;
  }

  box(key: string): [number, number, number, number] {
    return this.data.boxes[this.slot(key)];
  }

  raster(key: string): GlyphRaster {
    const i = this.slot(key);
    let r = this.rasters.get(i);
    if (!r) {
      const res = this.data.resolution;
      const levels: MipLevel[] = [{ size: res, data: new Uint8Array(this.data.pixels, i * res * res * 4, res * res * 4) }];
      while (levels[levels.length - 1].size >= 16) levels.push(halve(levels[levels.length - 1]));
      r = { levels, box: this.data.boxes[i] };
      this.rasters.set(i, r);
    }
    return r;
  }
}

function halve(l: MipLevel): MipLevel {
  const s = l.size >> 1;
  const out = new Uint8Array(s * s * 4);
  const src = l.data;
  const row = l.size * 4;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const i = (2 * y * l.size + 2 * x) * 4;
      const o = (y * s + x) * 4;
      for (let c = 0; c < 4; c++) out[o + c] = (src[i + c] + src[i + 4 + c] + src[i + row + c] + src[i + row + 4 + c] + 2) >> 2;
    }
  }
  return { size: s, data: out };
}
