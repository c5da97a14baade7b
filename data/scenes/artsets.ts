import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { sha256, writeJsonAtomic } from '../../core/fsutil.js';
import { GLYPHS } from './catalogue.js';

/**
 * The emoji art sets, read from the iconify JSON packages in node_modules (no download at run
 * time). Each set has one look, and that look is the "style" captions talk about.
 */
export type Style = 'glossy' | 'flat' | 'cartoon';
export type EmojiSetId = 'noto' | 'fluent-emoji-flat' | 'twemoji';
/** Objects drawn in code (sofa, dining table) carry this set id and pick one of the styles. */
export const DRAWN_SET = 'poisonlens-drawn';
export type SetId = EmojiSetId | typeof DRAWN_SET;

export interface ArtSet {
  id: EmojiSetId;
  package: string;
  title: string;
  style: Style;
  licence: string;
  attribution: string;
}

export const ART_SETS: readonly ArtSet[] = [
  {
    id: 'noto',
    package: '@iconify-json/noto',
    title: 'Noto Emoji',
    style: 'glossy',
    licence: 'Apache-2.0',
    attribution: 'Noto Emoji by Google Inc, licensed under the Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0); source https://github.com/googlefonts/noto-emoji',
  },
  {
    id: 'fluent-emoji-flat',
    package: '@iconify-json/fluent-emoji-flat',
    title: 'Fluent Emoji Flat',
    style: 'flat',
    licence: 'MIT',
    attribution: 'Fluent Emoji (flat) by Microsoft Corporation, licensed under the MIT License; source https://github.com/microsoft/fluentui-emoji',
  },
  {
    id: 'twemoji',
    package: '@iconify-json/twemoji',
    title: 'Twemoji',
    style: 'cartoon',
    licence: 'CC-BY-4.0',
    attribution: 'Twemoji by Twitter, Inc and other contributors, licensed under CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/); graphics adapted (rasterised, scaled, rotated, composited); source https://github.com/jdecked/twemoji',
  },
];

/** Words captions may use for each style; the first is the plain one. */
export const STYLE_WORDS: Record<Style, string[]> = {
  glossy: ['glossy', 'shiny'],
  flat: ['flat', 'minimalist'],
  cartoon: ['cartoon', 'cartoonish'],
};

interface IconifyIcon {
  body: string;
  width?: number;
  height?: number;
  left?: number;
  top?: number;
  hFlip?: boolean;
}
interface IconifyJson {
  icons: Record<string, IconifyIcon>;
  aliases?: Record<string, { parent: string; hFlip?: boolean } & Partial<IconifyIcon>>;
  width?: number;
  height?: number;
}

/** A standalone SVG document (no size: the rasteriser sets it) for one emoji. */
export interface EmojiSvg {
  set: EmojiSetId;
  glyph: string;
  /** the iconify icon name it came from */
  icon: string;
  svg: string;
}

function packageVersion(req: NodeRequire, pkg: string): string {
  return (JSON.parse(readFileSync(req.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
}

/**
 * Extracts the SVG of every catalogue glyph from every art set. Codepoints map to icon names
 * through each package's chars.json (sets name icons by keyword, not by codepoint); aliases are
 * followed, including their horizontal flips. Throws if a set lacks a glyph, so a package
 * upgrade that drops one fails loudly instead of silently thinning a class.
 */
export interface EmojiSvgs {
  svgs: EmojiSvg[];
  versions: Record<EmojiSetId, string>;
}

let memo: { key: string; value: EmojiSvgs } | null = null;

/**
 * Like extractEmojiSvgs, but parsing the three icon sets (~44 MB of JSON, ~2 s) happens once:
 * the few hundred SVGs we use are kept in memory and in `cacheDir`, keyed by package versions
 * and the glyph list, so a package upgrade or a catalogue change invalidates the cache.
 */
export function loadEmojiSvgs(cacheDir?: string): EmojiSvgs {
  const req = createRequire(import.meta.url);
  const versions = Object.fromEntries(ART_SETS.map((a) => [a.id, packageVersion(req, a.package)])) as Record<EmojiSetId, string>;
  const key = sha256(JSON.stringify({ versions, glyphs: GLYPHS.map((g) => [g.key, g.codepoints ?? null]) })).slice(0, 16);
  if (memo?.key === key) return memo.value;
  const file = cacheDir ? join(cacheDir, `scenes-emoji-${key}.json`) : null;
  let value: EmojiSvgs | null = null;
  if (file && existsSync(file)) {
    try {
      value = JSON.parse(readFileSync(file, 'utf8')) as EmojiSvgs;
    } catch {
      value = null; // a damaged cache is rebuilt
    }
  }
  if (!value) {
    value = extractEmojiSvgs();
    if (file) writeJsonAtomic(file, value);
  }
  memo = { key, value };
  return value;
}

export function extractEmojiSvgs(): EmojiSvgs {
  const req = createRequire(import.meta.url);
  const svgs: EmojiSvg[] = [];
  const versions = {} as Record<EmojiSetId, string>;
  for (const set of ART_SETS) {
    versions[set.id] = packageVersion(req, set.package);
    const icons = JSON.parse(readFileSync(req.resolve(`${set.package}/icons.json`), 'utf8')) as IconifyJson;
    const chars = JSON.parse(readFileSync(req.resolve(`${set.package}/chars.json`), 'utf8')) as Record<string, string>;
    for (const glyph of GLYPHS) {
      if (!glyph.codepoints || glyph.notIn?.includes(set.id)) continue;
      const name = chars[glyph.codepoints] ?? chars[glyph.codepoints.replace(/-200d-/g, '-fe0f-200d-')];
      if (!name) throw new Error(`${set.package} has no emoji for ${glyph.codepoints} (${glyph.key})`);
      svgs.push({ set: set.id, glyph: glyph.key, icon: name, svg: iconSvg(icons, name) });
    }
  }
  return { svgs, versions };
}

function iconSvg(data: IconifyJson, name: string): string {
  let flip = false;
  let n = name;
  for (let hops = 0; !data.icons[n]; hops++) {
    const alias = data.aliases?.[n];
    if (!alias || hops > 8) throw new Error(`icon ${name} not found`);
    if (alias.hFlip) flip = !flip;
    n = alias.parent;
  }
  const icon = data.icons[n];
  if (icon.hFlip) flip = !flip;
  const w = icon.width ?? data.width ?? 16;
  const h = icon.height ?? data.height ?? 16;
  const l = icon.left ?? 0;
  const t = icon.top ?? 0;
  const body = flip ? `<g transform="translate(${2 * l + w} 0) scale(-1 1)">${icon.body}</g>` : icon.body;
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="${l} ${t} ${w} ${h}">${body}</svg>`;
}
