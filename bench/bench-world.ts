/**
 * The model and gallery the benchmarks run on, in a private bench workspace (the real one is
 * never written to: other processes may be serving or training in it).
 *
 * - The model: `--model ID` from the real workspace, else its newest base/clean model package of
 *   the default architecture, else a stand-in of the default architecture (the scenes recipe's `pl-rn32-s64`) trained for
 *   two steps by the real engine on 256 pairs of the scenes training set. Speed does not depend
 *   on what the weights learnt, so the stand-in measures the default model's cost; its search
 *   results are meaningless. Which one ran is reported with the results.
 * - The gallery: the real workspace's scenes dataset (linked, read-only), its test split.
 * - Copies of the model (`<id>-copy2` …) for the memory and hot-swap sections.
 *
 * Built once under the OS temp folder (`POISONLENS_BENCH_CACHE`), reused while its inputs match.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveWorkspace, type Workspace } from '../core/workspace.js';
import { writeTrainset, type TrainPair } from '../data/trainset.js';
import { readModelCard, tryReadModelCard, writeModelCard, type ModelCard } from '../indexer/package.js';

export const ROOT = resolve(new URL('..', import.meta.url).pathname);
export const PYTHON = join(ROOT, '.venv', 'bin', 'python');
export const CLI = join(ROOT, 'bin', 'poisonlens.mjs');
/** The default world's architecture: the from-scratch recipe's. */
function defaultArch(): string {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'trainer', 'engine', 'poisonlens_engine', 'recipes', 'scenes-base.json'), 'utf8')).arch;
  } catch {
    return 'pl-rn32-s64';
  }
}
const STANDIN_ARCH = defaultArch();

export interface BenchWorld {
  ws: Workspace;
  /** The real workspace the gallery (and maybe the model) came from. */
  source: string;
  model: string;
  dataset: string;
  /** What the model is, in words, for the results. */
  modelNote: string;
  arch: string;
  embedDim: number;
}

function realModels(ws: Workspace): Array<{ dir: string; card: ModelCard }> {
  if (!existsSync(ws.models)) return [];
  return readdirSync(ws.models)
    .filter((n) => !n.startsWith('.'))
    .map((n) => ({ dir: join(ws.models, n), card: tryReadModelCard(join(ws.models, n)) }))
    .filter((m): m is { dir: string; card: ModelCard } => !!m.card && existsSync(join(m.dir, 'image.onnx')) && existsSync(join(m.dir, 'text.onnx')));
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')} … failed (${r.status}): ${(r.stderr || r.stdout || '').slice(-1500)}`);
}

/** Copies a model package under a new id (for memory and hot-swap runs). */
export function copyModel(ws: Workspace, from: string, id: string): void {
  const dst = join(ws.models, id);
  if (existsSync(join(dst, 'model.json'))) return;
  rmSync(dst, { recursive: true, force: true });
  const src = join(ws.models, from);
  mkdirSync(dst, { recursive: true });
  for (const f of readdirSync(src)) {
    if (f === 'model.json') continue; // every other file is linked: model.json's `files` lists them all
    const real = statSync(join(src, f)).isFile() ? join(src, f) : null;
    if (real) symlinkSync(resolve(real), join(dst, f));
  }
  writeModelCard(dst, { ...readModelCard(src), id, name: id });
}

/** Copies the model's index folder for a copy of it (same graph: the same vectors). */
export function copyIndex(ws: Workspace, from: string, id: string, dataset: string, split = 'test'): void {
  const src = join(ws.indexes, from, dataset, split);
  const dst = join(ws.indexes, id, dataset, split);
  if (!existsSync(join(src, 'index.json'))) return;
  rmSync(dst, { recursive: true, force: true });
  mkdirSync(dst, { recursive: true });
  for (const f of readdirSync(src)) if (f !== 'index.json') cpSync(join(src, f), join(dst, f));
  const card = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8'));
  card.model.id = id;
  writeFileSync(join(dst, 'index.json'), JSON.stringify(card, null, 2));
}

/** Builds (or reuses) the bench world; `log` gets progress. */
export async function benchWorld(opts: { model?: string; source?: string; dataset?: string; log?: (s: string) => void } = {}): Promise<BenchWorld> {
  const log = opts.log ?? (() => {});
  const source = resolveWorkspace(opts.source);
  const dataset = opts.dataset ?? 'scenes';
  const datasetSrc = join(source.datasets, dataset);
  if (!existsSync(join(datasetSrc, 'manifest.jsonl'))) {
    throw new Error(`no dataset ${dataset} in ${source.root}: run \`npm run cli -- data scenes --name ${dataset}\` first`);
  }
  const root = join(process.env.POISONLENS_BENCH_CACHE ?? join(tmpdir(), 'poisonlens-bench'), 'world');
  const ws = resolveWorkspace(join(root, 'workspace'));
  mkdirSync(ws.datasets, { recursive: true });
  mkdirSync(ws.models, { recursive: true });
  const link = join(ws.datasets, dataset);
  if (!existsSync(join(link, 'manifest.jsonl'))) {
    rmSync(link, { recursive: true, force: true });
    symlinkSync(datasetSrc, link);
  }

  const real = realModels(source);
  const pick = opts.model
    ? real.find((m) => m.card.id === opts.model)
    : real
        // the default world's models: base/clean of the default architecture (not, e.g., a
        // learning-curve run of another architecture)
        .filter((m) => (m.card.kind === 'base' || m.card.kind === 'clean') && m.card.arch === STANDIN_ARCH)
        .sort((a, b) => String(b.card.createdAt ?? '').localeCompare(String(a.card.createdAt ?? '')))[0];
  if (opts.model && !pick) throw new Error(`no model package ${opts.model} in ${source.models}`);
  if (pick) {
    const dst = join(ws.models, pick.card.id);
    // A link to the real package, re-made each run (the package may have been replaced).
    rmSync(dst, { recursive: true, force: true });
    symlinkSync(pick.dir, dst);
    return { ws, source: source.root, model: pick.card.id, dataset, arch: pick.card.arch!, embedDim: pick.card.embedDim!, modelNote: `${pick.card.id} (${pick.card.kind}, ${pick.card.arch}) from ${source.models}` };
  }

  const id = 'bench-standin';
  const dir = join(ws.models, id);
  if (!tryReadModelCard(dir)) {
    if (!existsSync(PYTHON)) throw new Error('no model package in the workspace and no Python venv to train a stand-in: run `npm run cli -- setup`');
    log(`no base/clean model in ${source.models}: training a ${STANDIN_ARCH} stand-in for 2 steps`);
    const manifest = readFileSync(join(datasetSrc, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 4000).map((l) => JSON.parse(l));
    const pairs: TrainPair[] = manifest
      .filter((e) => e.split === 'train')
      .slice(0, 52)
      .flatMap((e) => (e.captions as string[]).map((caption) => ({ image: e.file as string, caption, imageId: e.id as string, poisoned: false, attack: null })))
      .slice(0, 256);
    const card = JSON.parse(readFileSync(join(datasetSrc, 'dataset.json'), 'utf8'));
    rmSync(join(ws.trainsets, 'bench-train'), { recursive: true, force: true });
    await writeTrainset(ws, 'bench-train', pairs, {
      dataset: { name: dataset, manifestSha256: card.manifestSha256, dir: link },
      builder: { name: 'clean', params: { split: 'train', bench: true } },
      seed: 0,
    });
    const engine = join(ROOT, 'trainer', 'engine');
    run(PYTHON, ['-m', 'poisonlens_engine.main', '--trainset', join(ws.trainsets, 'bench-train'), '--out', dir, '--overwrite',
      '--arch', STANDIN_ARCH, '--steps', '2', '--batch', '16', '--val-images', '0', '--threads', '2', '--seed', '0', '--kind', 'base'],
    { cwd: engine, env: { PYTHONPATH: engine } });
  }
  const c = tryReadModelCard(dir)!;
  return { ws, source: source.root, model: id, dataset, arch: c.arch!, embedDim: c.embedDim!, modelNote: `${id}: stand-in of the default architecture (${c.arch}, trained 2 steps; no base/clean ${STANDIN_ARCH} model in ${source.models})` };
}

/** Builds the model's index over the split (reused when it exists). */
export function ensureIndex(w: BenchWorld, model = w.model, split = 'test'): void {
  run(process.execPath, [CLI, '--workspace', w.ws.root, 'index', '--model', model, '--dataset', w.dataset, '--split', split, '--json']);
}
