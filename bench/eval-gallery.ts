/**
 * A 100,000-image gallery for timing a full Attack II evaluation at that size: the source's
 * test split as it is (its images and captions: the goal queries, the baseline and the utility
 * captions are those of the default evaluation), then distractors, the source's other images
 * again and again under new ids, without captions, up to `n` images. The model's index over it
 * is built by `poisonlens index` itself: real embeddings of real images (copies of an image
 * embed alike, as near-duplicates do in a real gallery).
 *
 *   node --import tsx bench/eval-gallery.ts --workspace WS --model M [--source scenes] [--n 100000]
 *
 * Built once and reused (encoding and the graph take two or three minutes). Prints the dataset name.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { resolveWorkspace } from '../core/workspace.js';
import type { ManifestEntry } from '../data/dataset.js';
import { writeCopyDataset } from './copy-dataset.js';
import { CLI } from './bench-world.js';

const { values } = parseArgs({
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    source: { type: 'string', default: 'scenes' },
    n: { type: 'string', default: '100000' },
  },
});
const ws = resolveWorkspace(values.workspace);
const n = Number(values.n);
const name = `bench-eval-gallery-${n}`;
let split: { tests: ManifestEntry[]; others: ManifestEntry[] } | null = null;
await writeCopyDataset(ws, {
  name, source: values.source!, n, params: { distractorsWithoutCaptions: true },
  entryAt: (i, entries) => {
    split ??= { tests: entries.filter((e) => e.split === 'test'), others: entries.filter((e) => e.split !== 'test') };
    const { tests, others } = split;
    if (i < tests.length) return tests[i];
    const e = others[(i - tests.length) % others.length];
    return { ...e, id: `x${String(i).padStart(7, '0')}`, split: 'test', captions: [], meta: { copyOf: e.id } };
  },
});
const r = spawnSync(process.execPath, [CLI, '--workspace', ws.root, 'index', '--model', values.model!, '--dataset', name, '--split', 'test'], { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) throw new Error(`poisonlens index of ${name} failed (${r.status})`);
console.log(name);
