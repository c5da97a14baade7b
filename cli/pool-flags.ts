import { numberFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { DEFAULT_POOL, type PoolSpec } from '../data/pool.js';

/** The pool flags, as parseFlags options. */
export const POOL_FLAG_OPTIONS = {
  'pool-images': { type: 'string' },
  'pool-seed': { type: 'string' },
  'pool-profile': { type: 'string' },
  'pool-class': { type: 'string' },
  'pool-captions': { type: 'string' },
} as const;

export const POOL_USAGE = '[--pool-images K [--pool-seed S] [--pool-profile flickr30k] [--pool-class sheep=12,sofa=12] [--pool-captions N]]';

/**
 * `--pool-images K [--pool-seed S] [--pool-profile P] [--pool-class A=N,…] [--pool-captions N]`: build from a seeded
 * fine-tuning pool (data/pool.ts) instead of the whole train split.
 */
export function poolFlags(values: Record<string, unknown>, usage: string): { pool?: PoolSpec } {
  const images = numberFlag(values, 'pool-images', { min: 1, integer: true });
  const seed = numberFlag(values, 'pool-seed', { min: 0, max: 0xffffffff, integer: true });
  const profile = typeof values['pool-profile'] === 'string' ? values['pool-profile'] : null;
  const classImages = typeof values['pool-class'] === 'string' ? parseClassImages(values['pool-class'], usage) : null;
  const captions = numberFlag(values, 'pool-captions', { min: 1, integer: true }) ?? null;
  if (images === undefined) {
    const given = seed !== undefined ? 'pool-seed' : profile !== null ? 'pool-profile' : classImages !== null ? 'pool-class' : captions !== null ? 'pool-captions' : null;
    if (given) throw new UserError(`--${given} needs --pool-images\nusage: ${usage}`, 'bad_flags');
    return {};
  }
  return { pool: { ...DEFAULT_POOL, images, seed: seed ?? 0, profile, classImages, captionsPerImage: captions } };
}

function parseClassImages(text: string, usage: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m) throw new UserError(`--pool-class takes CLASS=N[,CLASS=N…], got ${JSON.stringify(part)}\nusage: ${usage}`, 'bad_flags');
    out[m[1]] = Number(m[2]);
  }
  return out;
}
