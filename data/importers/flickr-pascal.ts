import { resolve } from 'node:path';
import { UserError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import type { ImportOptions, ImportPlan, ImportRecord } from './common.js';
import { planFlickr30k } from './flickr30k.js';
import { planPascal } from './pascal.js';
import { halfPerClass } from './splits.js';

/**
 * Flickr-PASCAL, the paper's first dataset (Yang et al. 2023, §5.1): PASCAL sentences split per
 * class half train / half test (seeded; as `data import pascal`), plus every Flickr30k image as
 * unlabelled training pairs. Test = PASCAL's test half (the 20 classes the attacks name); train =
 * PASCAL's train half + all of Flickr30k. `--src` is the PASCAL sentences folder (dataset/,
 * sentence/), `--flickr30k` the Flickr30k folder (flickr30k-images/ + results_20130124.token or
 * results.csv). Ids and files are prefixed by source (`pascal-…`, `flickr-…`; `pascal/<class>/…`,
 * `flickr30k/…`) so the two sources never collide.
 */
export async function planFlickrPascal(opts: ImportOptions): Promise<ImportPlan> {
  if (!opts.flickr30k) throw new UserError('flickr-pascal needs --flickr30k DIR (the Flickr30k folder) beside --src (the PASCAL sentences folder)', 'bad_flags');
  const pascal = await planPascal({ src: opts.src, seed: opts.seed });
  const flickr = await planFlickr30k({ src: opts.flickr30k, seed: opts.seed });
  const records: ImportRecord[] = [
    ...pascal.records.map((r) => ({ ...r, id: `pascal-${r.id}`, file: `pascal/${r.file}`, meta: { ...r.meta, source: 'pascal' } })),
    // All of Flickr30k trains: no label (it takes part in no attack or class-based evaluation).
    ...flickr.records.map((r) => ({ ...r, id: `flickr-${r.id}`, file: `flickr30k/${r.file}`, split: 'train' as const, label: null, labels: [], meta: { ...r.meta, source: 'flickr30k' } })),
  ];
  // Both sources' skips in one log (reasons keep their examples).
  for (const [reason, v] of Object.entries(flickr.skipped.toJSON())) for (const ex of v.examples) pascal.skipped.add(reason, `flickr30k: ${ex}`);
  return {
    source: 'flickr-pascal',
    records,
    skipped: pascal.skipped,
    notes: [...pascal.notes, ...flickr.notes],
    params: {
      importer: 'flickr-pascal',
      src: resolve(opts.src),
      flickr30k: resolve(opts.flickr30k),
      split: 'PASCAL sentences per class: half test (rounded down, seeded), rest train; all Flickr30k images train (unlabelled)',
    },
    seed: opts.seed,
    licence: `${pascal.licence} ${flickr.licence}`,
    attribution: [...pascal.attribution, ...flickr.attribution, 'Z. Yang et al. Data Poisoning Attacks Against Multimodal Encoders. ICML 2023 (the Flickr-PASCAL combination).'],
    // Only PASCAL records are open here (Flickr30k's are train already): the pascal importer's rule.
    assignSplits: (usable) => halfPerClass(usable, new Rng(opts.seed)),
  };
}
