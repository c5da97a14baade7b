import { numberFlag } from './args.js';
import { UserError } from '../core/errors.js';

/** `--pool-images K [--pool-seed S]`: build from a seeded sample of K train images (data/pool.ts). */
export function poolFlags(values: Record<string, unknown>, usage: string): { images?: number; subsetSeed?: number } {
  const images = numberFlag(values, 'pool-images', { min: 1, integer: true });
  const seed = numberFlag(values, 'pool-seed', { min: 0, max: 0xffffffff, integer: true });
  if (seed !== undefined && images === undefined) throw new UserError(`--pool-seed needs --pool-images\nusage: ${usage}`, 'bad_flags');
  return images === undefined ? {} : { images, subsetSeed: seed ?? 0 };
}
