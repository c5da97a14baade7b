import type { GlyphRaster, MipLevel } from './atlas.js';
import type { PlacedObject, ScenePlan } from './layout.js';
import { paintBackground } from './backgrounds.js';

/**
 * Draws a planned scene into an RGB buffer: the background, then each object scaled, flipped and
 * rotated from its mip chain with 2×2 supersampled bilinear taps, composited in premultiplied
 * alpha. Pure arithmetic on typed arrays: the same plan gives the same bytes everywhere.
 */
export function renderScene(plan: ScenePlan, rasters: GlyphRaster[]): Uint8ClampedArray {
  const S = plan.size;
  const px = new Uint8ClampedArray(S * S * 3);
  paintBackground(plan.background, S, px);
  // far to near: water and ground objects by their bottom edge, flying ones on top
  const order = plan.objects.map((o, i) => i).sort((a, b) => depth(plan.objects[a]) - depth(plan.objects[b]) || a - b);
  for (const i of order) drawObject(px, S, plan.objects[i], rasters[i]);
  return px;
}

function depth(o: PlacedObject): number {
  return (o.zone === 'air' ? 10 : 0) + o.box[3] / 1000;
}

function pickLevel(r: GlyphRaster, side: number): MipLevel {
  // the smallest level at least as large as the drawn canvas: every draw reduces by < 2×
  // (level 0 may be a little smaller than the largest canvases: a slight enlargement)
  let best = r.levels[0];
  for (const l of r.levels) if (l.size >= side) best = l;
  return best;
}

function drawObject(px: Uint8ClampedArray, S: number, o: PlacedObject, r: GlyphRaster): void {
  const level = pickLevel(r, o.side);
  const L = level.size;
  const src = level.data;
  const k = L / o.side; // source texels per output pixel
  const th = (o.rotation * Math.PI) / 180;
  // output (x, y) → texel (u, v) is affine: u = ux·x + uy·y + u0, v = vx·x + vy·y + v0
  const f = o.flip ? -1 : 1;
  const ux = f * Math.cos(th) * k, uy = f * Math.sin(th) * k;
  const vx = -Math.sin(th) * k, vy = Math.cos(th) * k;
  // texel centres sit at integer + 0.5
  const u0 = -(ux * o.cx + uy * o.cy) + L / 2 - 0.5;
  const v0 = -(vx * o.cx + vy * o.cy) + L / 2 - 0.5;
  const x0 = Math.max(0, o.box[0] - 1), y0 = Math.max(0, o.box[1] - 1);
  const x1 = Math.min(S, o.box[2] + 1), y1 = Math.min(S, o.box[3] + 1);
  const lim = L - 1;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      let pr = 0, pg = 0, pb = 0, pa = 0;
      // 2×2 sub-samples at ±¼ pixel
      for (let j = 0; j < 4; j++) {
        const sx = x + ((j & 1) ? 0.75 : 0.25), sy = y + ((j & 2) ? 0.75 : 0.25);
        const fu = ux * sx + uy * sy + u0, fv = vx * sx + vy * sy + v0;
        const iu = Math.floor(fu), iv = Math.floor(fv);
        // the canvas edge is transparent padding in every art set: skip taps that leave it
        if (iu < 0 || iv < 0 || iu >= lim || iv >= lim) continue;
        const tu = fu - iu, tv = fv - iv;
        const w00 = (1 - tu) * (1 - tv), w10 = tu * (1 - tv), w01 = (1 - tu) * tv, w11 = tu * tv;
        const q = (iv * L + iu) * 4, q2 = q + L * 4;
        pr += src[q] * w00 + src[q + 4] * w10 + src[q2] * w01 + src[q2 + 4] * w11;
        pg += src[q + 1] * w00 + src[q + 5] * w10 + src[q2 + 1] * w01 + src[q2 + 5] * w11;
        pb += src[q + 2] * w00 + src[q + 6] * w10 + src[q2 + 2] * w01 + src[q2 + 6] * w11;
        pa += src[q + 3] * w00 + src[q + 7] * w10 + src[q2 + 3] * w01 + src[q2 + 7] * w11;
      }
      if (pa <= 0) continue;
      // premultiplied "over"; the 4 sub-samples are averaged
      const a = 1 - pa / (4 * 255);
      const i = (y * S + x) * 3;
      px[i] = pr / 4 + px[i] * a;
      px[i + 1] = pg / 4 + px[i + 1] * a;
      px[i + 2] = pb / 4 + px[i + 2] * a;
    }
  }
}
