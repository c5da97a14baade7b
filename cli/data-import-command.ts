import type { Command } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { PAPER_COCO } from '../data/importers/coco.js';
import { getImporter, importDataset, IMPORTERS, type ImporterOption, type ImportOptions } from '../data/importers/importers.js';

// One line (errors append it); which importer reads which optional flag is checked below.
const USAGE =
  `poisonlens data import ${Object.keys(IMPORTERS).join('|')} --src DIR_OR_FILE --name N [--seed S] [--force] [--copy] [--json] ` +
  '[--karpathy FILE] [--val-count N] [--test-count N] (flickr30k, jsonl) [--year 2014|2017] [--test-per-class K] [--drop-classes A,B] [--paper] (coco) ' +
  '[--images DIR] (karpathy) --flickr30k DIR (flickr-pascal)';

const FLAGS = {
  src: { type: 'string' },
  name: { type: 'string' },
  seed: { type: 'string' },
  force: { type: 'boolean' },
  copy: { type: 'boolean' },
  json: { type: 'boolean' },
  images: { type: 'string' },
  karpathy: { type: 'string' },
  year: { type: 'string' },
  'test-per-class': { type: 'string' },
  'drop-classes': { type: 'string' },
  paper: { type: 'boolean' },
  flickr30k: { type: 'string' },
  'val-count': { type: 'string' },
  'test-count': { type: 'string' },
} as const;

// Importer-specific flags, so one given to an importer that ignores it is an error, not a no-op.
const OPTION_FLAGS: Record<ImporterOption, keyof typeof FLAGS> = {
  images: 'images',
  karpathy: 'karpathy',
  year: 'year',
  testPerClass: 'test-per-class',
  dropClasses: 'drop-classes',
  flickr30k: 'flickr30k',
  valCount: 'val-count',
  testCount: 'test-count',
};

/** `data import KIND --src … --name …`: parses flags and hands off to data/importers. */
export const runDataImport: Command['run'] = async (argv, ctx) => {
  const { values, positionals } = parseFlags(argv, FLAGS, USAGE);
  if (positionals.length !== 1) throw new UserError(`data import needs one importer (${Object.keys(IMPORTERS).join(', ')})\nusage: ${USAGE}`, 'bad_flags');
  const importer = getImporter(positionals[0]);
  for (const [option, flag] of Object.entries(OPTION_FLAGS) as [ImporterOption, string][]) {
    if (values[flag as keyof typeof values] !== undefined && !importer.options.includes(option)) {
      throw new UserError(`--${flag} does not apply to the ${importer.name} importer`, 'bad_flags');
    }
  }
  // --paper (COCO): the paper's choices, Yang et al. 2023 §5.1 — drop toaster and hair drier, 50
  // test images per class (78 classes → 3,900); explicit flags still win.
  if (values.paper && importer.name !== 'coco') throw new UserError(`--paper does not apply to the ${importer.name} importer`, 'bad_flags');
  const paper = values.paper ? PAPER_COCO : null;
  const count = (flag: string, min: number) => numberFlag(values, flag, { integer: true, min });
  const drop = values['drop-classes'] !== undefined
    ? String(values['drop-classes']).split(',').map((c) => c.trim()).filter((c) => c !== '')
    : paper ? [...paper.dropClasses] : undefined;
  const opts: ImportOptions = {
    src: requireFlag(values, 'src', USAGE),
    seed: numberFlag(values, 'seed', { integer: true, min: 0, max: 0xffffffff, default: 0 })!,
    images: values.images,
    karpathy: values.karpathy,
    year: values.year,
    testPerClass: count('test-per-class', 1) ?? paper?.testPerClass,
    dropClasses: drop,
    flickr30k: values.flickr30k,
    valCount: count('val-count', 0),
    testCount: count('test-count', 0),
  };
  const name = requireFlag(values, 'name', USAGE);
  const ws = resolveWorkspace(ctx.workspaceDir);
  const { card, skipped, notes } = await importDataset(ws, importer.name, opts, { name, force: values.force, copy: values.copy });
  if (values.json) {
    console.log(JSON.stringify({ dataset: card, skipped: skipped.toJSON(), notes }, null, 2));
    return 0;
  }
  const { train, val, test } = card.counts;
  console.log(`imported ${train + val + test} images into dataset ${card.name}: train ${train}, val ${val}, test ${test}; ${card.classes.length} classes`);
  if (skipped.total > 0) console.log(skipped.summary());
  for (const note of notes) console.log(`note: ${note}`);
  return 0;
};
