import type { Rng } from '../../core/random.js';
import type { BackgroundName, Zone } from './catalogue.js';

/**
 * Procedural backgrounds. A spec (chosen by the planner, recorded in meta) fixes everything that
 * captions may mention — the kind of place, clouds, the wall colour — and a seed for texture;
 * `paintBackground` turns it into pixels at any size. Geometry is in fractions of the image side.
 */
export interface BackgroundSpec {
  name: BackgroundName;
  /** y of the horizon (sky above); for rooms, the top of the floor */
  horizon: number;
  /** beach: bottom of the sea band; road: top of the road; railway: y of the rails */
  line?: number;
  clouds: number;
  /** room walls / kitchen tiles / water kind (lake|sea) / railway bed (grass|gravel) */
  variant?: string;
  /** outdoors: an orange evening sky with a low sun instead of a blue one */
  sunset?: boolean;
  seed: number;
}

export const BACKGROUNDS: readonly BackgroundName[] = ['sky', 'grass', 'water', 'beach', 'snow', 'road', 'city', 'railway', 'room', 'kitchen'];

const WALLS: Record<string, [number, number, number]> = {
  beige: [232, 220, 194], blue: [160, 195, 224], green: [181, 214, 167], pink: [239, 193, 201], yellow: [242, 226, 155], grey: [201, 201, 201],
};
const TILES: Record<string, [number, number, number]> = {
  white: [240, 240, 236], blue: [169, 200, 232], green: [183, 220, 192], yellow: [243, 227, 160],
};

const r2 = (x: number) => Math.round(x * 100) / 100;

/** `sunsetChance`: how often an outdoor background has an evening sky (style.ts; the default world's 0.2). */
export function pickBackground(name: BackgroundName, rng: Rng, sunsetChance = 0.2): BackgroundSpec {
  const spec = pickLayout(name, rng);
  if (name !== 'room' && name !== 'kitchen' && rng.chance(sunsetChance)) spec.sunset = true;
  return spec;
}

function pickLayout(name: BackgroundName, rng: Rng): BackgroundSpec {
  const seed = rng.int(0, 0x7fffffff);
  switch (name) {
    case 'sky':
      return { name, horizon: 1, clouds: rng.int(0, 3), seed };
    case 'beach': {
      const horizon = r2(rng.float(0.22, 0.3));
      return { name, horizon, line: r2(horizon + rng.float(0.26, 0.34)), clouds: rng.int(0, 2), seed };
    }
    case 'road': {
      const horizon = r2(rng.float(0.3, 0.4));
      return { name, horizon, line: r2(horizon + rng.float(0.08, 0.14)), clouds: rng.int(0, 2), seed };
    }
    case 'city':
      return { name, horizon: r2(rng.float(0.5, 0.6)), clouds: rng.int(0, 2), seed };
    case 'railway': {
      const horizon = r2(rng.float(0.3, 0.4));
      return { name, horizon, line: r2(rng.float(0.76, 0.86)), clouds: rng.int(0, 2), variant: rng.pick(['grass', 'gravel']), seed };
    }
    case 'water':
      return { name, horizon: r2(rng.float(0.3, 0.45)), clouds: rng.int(0, 2), variant: rng.pick(['lake', 'sea']), seed };
    case 'room':
      return { name, horizon: r2(rng.float(0.56, 0.68)), clouds: 0, variant: rng.pick(Object.keys(WALLS)), seed };
    case 'kitchen':
      return { name, horizon: r2(rng.float(0.56, 0.68)), clouds: 0, variant: rng.pick(Object.keys(TILES)), seed };
    default:
      return { name, horizon: r2(rng.float(0.3, 0.45)), clouds: rng.int(0, 2), seed };
  }
}

/** Zones this background offers. */
export function zonesOf(name: BackgroundName): Zone[] {
  switch (name) {
    case 'sky':
      return ['air'];
    case 'water':
      return ['water', 'air'];
    case 'beach':
      return ['ground', 'water', 'air'];
    case 'railway':
      return ['ground', 'rail', 'air'];
    case 'room':
    case 'kitchen':
      return ['ground'];
    default:
      return ['ground', 'air'];
  }
}

/**
 * Where an object in `zone` may be, as fractions: for air, the range of its centre's y; for the
 * others, the range of its bottom edge (what it stands or floats on). Captions rely on these.
 */
export function zoneRange(spec: BackgroundSpec, zone: Zone): [number, number] {
  const h = spec.horizon;
  if (zone === 'air') return spec.name === 'sky' ? [0.15, 0.85] : [0.1, Math.max(0.3, h - 0.02)];
  if (zone === 'rail') return [spec.line! + 0.015, spec.line! + 0.03];
  if (zone === 'water') return spec.name === 'beach' ? [h + 0.12, spec.line! + 0.02] : [h + 0.2, 0.97];
  switch (spec.name) {
    case 'beach':
      return [spec.line! + 0.14, 0.98];
    case 'road':
      return [spec.line! + 0.2, 0.98];
    case 'railway':
      return [h + 0.2, spec.line! - 0.06];
    case 'city':
      return [h + 0.14, 0.98];
    case 'room':
    case 'kitchen':
      return [h + 0.1, 0.98];
    default:
      return [h + 0.24, 0.98];
  }
}

// ---- painting -------------------------------------------------------------------------------

/** Hash of integer coordinates to [0, 1): texture that is the same on every run and machine. */
function hash(x: number, y: number, seed: number): number {
  let h = Math.imul(x, 374761393) ^ Math.imul(y, 668265263) ^ Math.imul(seed, 2246822519);
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Smooth value noise with cells of `cell` pixels. */
function vnoise(x: number, y: number, cell: number, seed: number): number {
  const fx = x / cell, fy = y / cell;
  const ix = Math.floor(fx), iy = Math.floor(fy);
  const tx = fx - ix, ty = fy - iy;
  const sx = tx * tx * (3 - 2 * tx), sy = ty * ty * (3 - 2 * ty);
  const a = hash(ix, iy, seed), b = hash(ix + 1, iy, seed), c = hash(ix, iy + 1, seed), d = hash(ix + 1, iy + 1, seed);
  return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
}

type RGB = [number, number, number];

class Canvas {
  constructor(readonly s: number, readonly px: Uint8ClampedArray) {}
  set(x: number, y: number, r: number, g: number, b: number): void {
    const i = (y * this.s + x) * 3;
    this.px[i] = r;
    this.px[i + 1] = g;
    this.px[i + 2] = b;
  }
  blend(x: number, y: number, c: RGB, a: number): void {
    if (x < 0 || y < 0 || x >= this.s || y >= this.s || a <= 0) return;
    const i = (y * this.s + x) * 3;
    const k = a > 1 ? 1 : a;
    this.px[i] += (c[0] - this.px[i]) * k;
    this.px[i + 1] += (c[1] - this.px[i + 1]) * k;
    this.px[i + 2] += (c[2] - this.px[i + 2]) * k;
  }
  /** Fills rows [y0, y1) with a vertical gradient from c0 to c1 plus grain. */
  gradient(y0: number, y1: number, c0: RGB, c1: RGB, grain: number, seed: number): void {
    const s = this.s;
    for (let y = Math.max(0, y0); y < Math.min(s, y1); y++) {
      const t = y1 - y0 > 1 ? (y - y0) / (y1 - y0 - 1) : 0;
      const r = c0[0] + (c1[0] - c0[0]) * t, g = c0[1] + (c1[1] - c0[1]) * t, b = c0[2] + (c1[2] - c0[2]) * t;
      for (let x = 0; x < s; x++) {
        const n = grain ? (hash(x, y, seed) - 0.5) * grain : 0;
        this.set(x, y, r + n, g + n, b + n);
      }
    }
  }
  rect(x0: number, y0: number, x1: number, y1: number, c: RGB, a = 1): void {
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(this.s, Math.ceil(y1)); y++)
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(this.s, Math.ceil(x1)); x++) this.blend(x, y, c, a);
  }
  disc(cx: number, cy: number, r: number, c: RGB, a = 1): void {
    for (let y = Math.floor(cy - r - 1); y <= Math.ceil(cy + r + 1); y++)
      for (let x = Math.floor(cx - r - 1); x <= Math.ceil(cx + r + 1); x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        this.blend(x, y, c, a * Math.min(1, Math.max(0, r - d + 0.5)));
      }
  }
}

function jitter(c: RGB, rnd: () => number, amount: number): RGB {
  const d = (rnd() - 0.5) * amount;
  return [c[0] + d + (rnd() - 0.5) * amount * 0.5, c[1] + d + (rnd() - 0.5) * amount * 0.5, c[2] + d + (rnd() - 0.5) * amount * 0.5];
}

/** Paints `spec` into `px` (RGB, s × s; clamped, so colour arithmetic may overshoot). */
export function paintBackground(spec: BackgroundSpec, s: number, px: Uint8ClampedArray): void {
  const cv = new Canvas(s, px);
  let k = 0;
  const rnd = () => hash(k++, 7, spec.seed);
  const H = Math.round(spec.horizon * s);
  const line = spec.line !== undefined ? Math.round(spec.line * s) : 0;
  const seed = spec.seed;
  const sky = () => {
    const skyH = spec.name === 'sky' ? s : H;
    if (spec.sunset) {
      cv.gradient(0, skyH, jitter([80, 60, 140], rnd, 25), jitter([250, 150, 80], rnd, 20), 0, seed);
      cv.disc(s * (0.15 + rnd() * 0.7), skyH - s * 0.06, s * 0.08, [255, 210, 120], 0.95);
    } else {
      const top: RGB = spec.name === 'snow' ? [150, 175, 200] : jitter([70, 130, 215], rnd, 30);
      const bottom: RGB = spec.name === 'snow' ? [215, 225, 235] : jitter([175, 210, 240], rnd, 20);
      cv.gradient(0, skyH, top, bottom, 0, seed);
    }
    for (let c = 0; c < spec.clouds; c++) cloud(cv, rnd, s, skyH, spec.sunset ? [250, 200, 190] : [250, 252, 255]);
    if (spec.name === 'snow') for (let i = 0; i < s / 2; i++) cv.blend(Math.floor(rnd() * s), Math.floor(rnd() * H), [255, 255, 255], 0.8);
  };
  switch (spec.name) {
    case 'sky':
      sky();
      break;
    case 'grass':
    case 'snow': {
      sky();
      const far: RGB = spec.name === 'grass' ? jitter([120, 185, 80], rnd, 30) : [236, 241, 247];
      const near: RGB = spec.name === 'grass' ? jitter([60, 140, 45], rnd, 25) : [214, 224, 238];
      ground(cv, H, s, far, near, spec.name === 'grass' ? 18 : 6, seed);
      if (spec.name === 'grass') blades(cv, H, s, seed);
      else for (let y = H; y < s; y++) for (let x = 0; x < s; x++) cv.blend(x, y, [190, 205, 230], vnoise(x, y, s / 6, seed) * 0.35);
      break;
    }
    case 'water': {
      sky();
      const deep: RGB = spec.variant === 'sea' ? jitter([25, 80, 150], rnd, 20) : jitter([45, 110, 140], rnd, 20);
      const near: RGB = spec.variant === 'sea' ? jitter([45, 115, 185], rnd, 20) : jitter([70, 140, 160], rnd, 20);
      cv.gradient(H, s, deep, near, 0, seed);
      if (spec.variant === 'lake') {
        // the far shore: a dark band of trees on the horizon
        for (let x = 0; x < s; x++) {
          const th = Math.max(1, Math.round(s * (0.03 + 0.04 * vnoise(x, 0, s / 8, seed))));
          for (let y = H - th; y < H + 1; y++) cv.blend(x, y, [40, 90, 45], 1);
        }
      }
      waves(cv, H + 1, s, seed);
      break;
    }
    case 'beach': {
      sky();
      cv.gradient(H, line, jitter([30, 95, 165], rnd, 15), jitter([60, 150, 190], rnd, 15), 0, seed);
      waves(cv, H + 1, line, seed);
      ground(cv, line, s, jitter([236, 214, 160], rnd, 15), jitter([222, 192, 135], rnd, 15), 14, seed);
      for (let x = 0; x < s; x++) {
        const fy = line + Math.round(vnoise(x, 3, s / 8, seed) * 2);
        cv.blend(x, fy, [250, 250, 245], 0.8);
      }
      break;
    }
    case 'road': {
      sky();
      ground(cv, H, line, [120, 180, 85], [85, 150, 60], 14, seed);
      ground(cv, line, s, [120, 120, 125], [85, 85, 90], 12, seed);
      const mid = Math.round((line + s) / 2);
      const dash = Math.max(3, Math.round(s / 10));
      for (let x = 0; x < s; x++) if (Math.floor(x / dash) % 2 === 0) cv.rect(x, mid - s / 128, x + 1, mid + s / 128 + 1, [240, 240, 230], 0.9);
      cv.rect(0, line + 1, s, line + 1 + Math.max(1, s / 64), [235, 235, 225], 0.8);
      break;
    }
    case 'city': {
      sky();
      city(cv, H, s, rnd, seed);
      ground(cv, H, s, [150, 150, 155], [105, 105, 110], 10, seed);
      cv.rect(0, H, s, H + Math.max(1, s / 40), [200, 200, 200], 0.9);
      break;
    }
    case 'railway': {
      sky();
      const bed: [RGB, RGB] = spec.variant === 'gravel' ? [[170, 160, 145], [140, 128, 112]] : [[120, 180, 85], [80, 145, 55]];
      ground(cv, H, s, bed[0], bed[1], 20, seed);
      rails(cv, line, s);
      break;
    }
    case 'room': {
      const wall = WALLS[spec.variant!];
      cv.gradient(0, H, jitter(wall, rnd, 10), wall, 3, seed);
      wallDecor(cv, H, s, rnd);
      planks(cv, H, s, seed);
      cv.rect(0, H - Math.max(1, s / 48), s, H + 1, [245, 245, 240], 1);
      break;
    }
    case 'kitchen': {
      const t = TILES[spec.variant!];
      tilesWall(cv, H, s, t);
      checker(cv, H, s);
      break;
    }
  }
  // evening light: everything below the horizon warmer and darker
  if (spec.sunset && spec.name !== 'sky') cv.rect(0, H, s, s, [120, 60, 30], 0.25);
}

function ground(cv: Canvas, y0: number, y1: number, far: RGB, near: RGB, grain: number, seed: number): void {
  cv.gradient(y0, y1, far, near, grain, seed);
  const s = cv.s;
  for (let y = Math.max(0, y0); y < Math.min(s, y1); y++)
    for (let x = 0; x < s; x++) cv.blend(x, y, [0, 0, 0], (vnoise(x, y, s / 5, seed + 1) - 0.5) * 0.18);
}

function blades(cv: Canvas, y0: number, s: number, seed: number): void {
  for (let i = 0; i < s * 2; i++) {
    const x = Math.floor(hash(i, 1, seed) * s);
    const y = y0 + 2 + Math.floor(hash(i, 2, seed) * (s - y0 - 2));
    const len = 1 + Math.floor(((y - y0) / s) * 4);
    for (let d = 0; d < len; d++) cv.blend(x, y - d, [40, 110, 35], 0.6);
  }
}

function waves(cv: Canvas, y0: number, y1: number, seed: number): void {
  const s = cv.s;
  for (let y = y0; y < y1; y++) {
    for (let x = 0; x < s; x++) {
      const v = Math.sin(x * 0.35 + (y - y0) * 1.7 + vnoise(x, y, s / 6, seed) * 6);
      if (v > 0.85) cv.blend(x, y, [230, 240, 250], 0.55);
    }
  }
}

function cloud(cv: Canvas, rnd: () => number, s: number, maxY: number, colour: RGB): void {
  const cx = rnd() * s, cy = (0.1 + rnd() * 0.5) * maxY, w = s * (0.12 + rnd() * 0.1);
  for (let i = 0; i < 4; i++) cv.disc(cx + (i - 1.5) * w * 0.5, cy + (i % 2 ? -w * 0.15 : w * 0.05), w * (0.3 + 0.1 * (i % 2)), colour, 0.9);
}

function city(cv: Canvas, H: number, s: number, rnd: () => number, seed: number): void {
  let x = -Math.floor(rnd() * s * 0.1);
  while (x < s) {
    const w = Math.max(3, Math.round(s * (0.1 + rnd() * 0.12)));
    const top = Math.round(H - s * (0.15 + rnd() * 0.3));
    const c = jitter([150, 140, 135], rnd, 60);
    cv.rect(x, top, x + w, H, c);
    const step = Math.max(2, Math.round(s / 16));
    for (let wy = top + step / 2; wy < H - step / 2; wy += step)
      for (let wx = x + step / 2; wx < x + w - step / 2; wx += step) if (hash(wx, wy, seed) > 0.3) cv.rect(wx, wy, wx + step / 2, wy + step / 2, [245, 230, 150], 0.8);
    x += w + Math.round(rnd() * s * 0.04);
  }
}

function rails(cv: Canvas, y: number, s: number): void {
  const gap = Math.max(3, Math.round(s * 0.08));
  const sleeper = Math.max(2, Math.round(s / 16));
  for (let x = 0; x < s; x += sleeper * 2) cv.rect(x, y - gap - s / 64, x + sleeper, y + s / 40, [110, 75, 50], 1);
  cv.rect(0, y - gap - s / 64, s, y - gap + s / 64, [80, 80, 85], 1);
  cv.rect(0, y - s / 64, s, y + s / 64 + 0.5, [70, 70, 75], 1);
}

function wallDecor(cv: Canvas, H: number, s: number, rnd: () => number): void {
  const kind = rnd();
  const x = s * (0.1 + rnd() * 0.6), y = H * (0.15 + rnd() * 0.2), w = s * 0.22, h = H * 0.35;
  if (kind < 0.4) {
    // a window with sky
    cv.rect(x - 1, y - 1, x + w + 1, y + h + 1, [250, 250, 250]);
    cv.rect(x, y, x + w, y + h, [150, 200, 240]);
    cv.rect(x + w / 2 - 0.5, y, x + w / 2 + 0.5, y + h, [250, 250, 250]);
  } else if (kind < 0.7) {
    // a framed picture
    cv.rect(x - 1, y - 1, x + w * 0.8 + 1, y + h * 0.8 + 1, [110, 80, 50]);
    cv.rect(x, y, x + w * 0.8, y + h * 0.8, jitter([180, 160, 120], rnd, 80));
  }
}

function planks(cv: Canvas, H: number, s: number, seed: number): void {
  const wood: RGB = [165 + (seed % 30), 115 + (seed % 20), 70];
  ground(cv, H, s, wood, [wood[0] - 35, wood[1] - 30, wood[2] - 20], 10, seed);
  const ph = Math.max(2, Math.round(s / 16));
  for (let y = H + ph; y < s; y += ph) cv.rect(0, y, s, y + 0.6, [90, 60, 35], 0.5);
}

function tilesWall(cv: Canvas, H: number, s: number, t: RGB): void {
  const tile = Math.max(3, Math.round(s / 10));
  for (let y = 0; y < H; y++)
    for (let x = 0; x < s; x++) {
      const grout = x % tile === 0 || y % tile === 0;
      cv.set(x, y, grout ? t[0] - 40 : t[0], grout ? t[1] - 40 : t[1], grout ? t[2] - 40 : t[2]);
    }
  // a worktop along the bottom of the wall
  cv.rect(0, H - Math.max(2, s / 14), s, H, [120, 100, 85]);
}

function checker(cv: Canvas, H: number, s: number): void {
  const tile = Math.max(3, Math.round(s / 8));
  for (let y = H; y < s; y++)
    for (let x = 0; x < s; x++) {
      const dark = (Math.floor(x / tile) + Math.floor((y - H) / tile)) % 2 === 0;
      const v = dark ? 70 : 225;
      cv.set(x, y, v, v, v + 5);
    }
}
