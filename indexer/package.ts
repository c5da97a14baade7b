/**
 * Model package reader (ARCHITECTURE.md §2): `workspace/models/<id>/` with model.json,
 * image.onnx, text.onnx and the tokenizer vocabulary. This module is the one home of model.json:
 * its type (`ModelCard`), its readers (`readModelCard` / `tryReadModelCard` / `loadModelCard`:
 * parsed, not validated, for provenance and listings; `readModelPackage`: validated, for the
 * runtime) and its writer (`writeModelCard`). `readModelPackage` validates what the runtime
 * depends on and names the bad field in its error; the rest of model.json (provenance, metrics,
 * trainer settings) passes through untouched in `card`.
 */
import { existsSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, UserError } from '../core/errors.js';
import { sha256File, writeJsonAtomic } from '../core/fsutil.js';
import { checkName, isValidName, type Workspace } from '../core/workspace.js';
import type { ImageSpec } from './preprocess.js';
import { VOCAB_FILE } from './tokenizer.js';

export const MODEL_KINDS = ['base', 'clean', 'poisoned', 'defended'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export interface TextSpec {
  tokenizer: 'clip-bpe';
  contextLength: number;
  /** Vocabulary file name inside the package (default bpe_simple_vocab_16e6.txt.gz). */
  vocab?: string;
}

/** model.json's `attack`: the training set's attack, or the one a defended model inherits. */
export interface CardAttack {
  type?: string;
  /** "A>B" or "A>B,A2>B2". */
  goal?: string;
  /** Attack I's target image: its id (older cards: an object with the id). */
  targetImage?: string | { id?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** model.json's `trainer`: the resolved training config and what the run did. */
export interface CardTrainer {
  config?: Record<string, unknown>;
  steps?: number;
  epochs?: number | null;
  batch?: number;
  wallSeconds?: number | null;
  [k: string]: unknown;
}

/**
 * model.json, the one type of it (ARCHITECTURE.md §2). The engine writes every field; they are
 * optional here where cards differ (packages written before a field existed, hand-made or broken
 * packages a listing still shows, cards read before validation). `validateModelCard` checks the
 * fields the runtime needs and returns a `ValidModelCard`; other fields pass through.
 */
export interface ModelCard {
  id: string;
  name?: string;
  /** One of MODEL_KINDS once validated. */
  kind?: string;
  arch?: string;
  embedDim?: number;
  image?: ImageSpec;
  text?: TextSpec;
  parent?: string | null;
  trainset?: { name?: string; sha256?: string; [k: string]: unknown } | null;
  dataset?: { name?: string | null; manifestSha256?: string | null; [k: string]: unknown } | null;
  attack?: CardAttack | null;
  defence?: Record<string, unknown> | null;
  seed?: number | null;
  trainer?: CardTrainer | null;
  metrics?: Record<string, unknown> | null;
  /** Size and SHA-256 of every other file of the package (see `packageFiles`). */
  files?: Record<string, unknown>;
  createdAt?: string;
  [extra: string]: unknown;
}

/** A model.json that passed `validateModelCard`: what the runtime relies on is there. */
export type ValidModelCard = ModelCard & {
  name: string;
  kind: ModelKind;
  arch: string;
  embedDim: number;
  image: ImageSpec;
  text: TextSpec;
  parent: string | null;
  trainset: { name: string; sha256: string; [k: string]: unknown } | null;
  createdAt: string;
};

export interface ModelPackage {
  id: string;
  dir: string;
  card: ValidModelCard;
  imageOnnx: string;
  textOnnx: string;
  vocabPath: string;
}

export function modelDir(ws: Workspace, id: string): string {
  return join(ws.models, checkName(id, 'model id'));
}

type Obj = Record<string, unknown>;

function fail(where: string, field: string, want: string, got: unknown): never {
  const shown = got === undefined ? 'missing' : `got ${JSON.stringify(got)?.slice(0, 80)}`;
  throw new UserError(`${where}: field ${field} must be ${want} (${shown})`, 'bad_model');
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** model.json of the package folder `dir`. */
export function modelCardPath(dir: string): string {
  return join(dir, 'model.json');
}

/**
 * The model.json of the package folder `dir`, parsed but not validated (provenance readers,
 * listings, the server's catalogue; `readModelPackage` validates). Throws NotFoundError when it
 * is missing, UserError (bad_model) when it is not JSON or not a JSON object.
 */
export function readModelCard(dir: string): ModelCard {
  const cardPath = modelCardPath(dir);
  if (!existsSync(cardPath)) throw new NotFoundError(`no model package at ${dir} (model.json missing)`, 'model_not_found');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cardPath, 'utf8'));
  } catch (err) {
    throw new UserError(`${cardPath} is not valid JSON: ${(err as Error).message}`, 'bad_model');
  }
  if (!isObj(raw)) fail(cardPath, '(top level)', 'a JSON object', raw);
  return raw as ModelCard;
}

/** `readModelCard`, or null where it would throw (no package, or an unreadable card). */
export function tryReadModelCard(dir: string): ModelCard | null {
  try {
    return readModelCard(dir);
  } catch {
    return null;
  }
}

/**
 * The card (parsed, not validated) of model `id` of the workspace; NotFoundError (model_not_found)
 * when `id` is no valid name or has no package.
 */
export function loadModelCard(ws: Workspace, id: string): ModelCard {
  if (!isValidName(id) || !existsSync(modelCardPath(join(ws.models, id)))) throw new NotFoundError(`unknown model ${JSON.stringify(id)}`, 'model_not_found');
  return readModelCard(join(ws.models, id));
}

/** Writes the model.json of the package folder `dir` atomically (JSON indented by 2, as the engine writes it). */
export function writeModelCard(dir: string, card: ModelCard): void {
  writeJsonAtomic(modelCardPath(dir), card);
}

/** Validates a parsed model.json; `where` names it in errors (e.g. its path). */
export function validateModelCard(raw: unknown, where = 'model.json'): ValidModelCard {
  if (!isObj(raw)) fail(where, '(top level)', 'a JSON object', raw);
  const str = (o: Obj, path: string, key: string) => {
    const v = o[key];
    if (typeof v !== 'string' || v === '') fail(where, path + key, 'a non-empty string', v);
    return v;
  };
  const posInt = (o: Obj, path: string, key: string) => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(where, path + key, 'a positive integer', v);
    return v;
  };
  const triple = (o: Obj, path: string, key: string, positive: boolean) => {
    const v = o[key];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))) {
      fail(where, path + key, `an array of 3 ${positive ? 'positive ' : ''}numbers`, v);
    }
    return v as [number, number, number];
  };
  str(raw, '', 'id');
  str(raw, '', 'arch');
  if (typeof raw.kind !== 'string' || !(MODEL_KINDS as readonly string[]).includes(raw.kind)) {
    fail(where, 'kind', `one of ${MODEL_KINDS.join(', ')}`, raw.kind);
  }
  posInt(raw, '', 'embedDim');
  if (!isObj(raw.image)) fail(where, 'image', 'an object', raw.image);
  const image = raw.image;
  posInt(image, 'image.', 'size');
  triple(image, 'image.', 'mean', false);
  triple(image, 'image.', 'std', true);
  if (image.resize !== 'bicubic') fail(where, 'image.resize', '"bicubic" (the only resize this runtime implements)', image.resize);
  if (image.crop !== 'center') fail(where, 'image.crop', '"center" (the only crop this runtime implements)', image.crop);
  if (!isObj(raw.text)) fail(where, 'text', 'an object', raw.text);
  const text = raw.text;
  if (text.tokenizer !== 'clip-bpe') fail(where, 'text.tokenizer', '"clip-bpe"', text.tokenizer);
  posInt(text, 'text.', 'contextLength');
  if ((text.contextLength as number) < 2) fail(where, 'text.contextLength', 'at least 2', text.contextLength);
  if (text.vocab !== undefined && (typeof text.vocab !== 'string' || text.vocab.includes('/') || text.vocab.includes('\\'))) {
    fail(where, 'text.vocab', 'a file name inside the package', text.vocab);
  }
  if (raw.parent !== undefined && raw.parent !== null && typeof raw.parent !== 'string') fail(where, 'parent', 'a model id or null', raw.parent);
  if (raw.trainset !== undefined && raw.trainset !== null && !isObj(raw.trainset)) fail(where, 'trainset', 'an object or null', raw.trainset);
  if (raw.createdAt !== undefined && typeof raw.createdAt !== 'string') fail(where, 'createdAt', 'an ISO date string', raw.createdAt);
  return {
    ...raw,
    name: typeof raw.name === 'string' && raw.name ? raw.name : (raw.id as string),
    parent: (raw.parent as string | null | undefined) ?? null,
    trainset: (raw.trainset as ValidModelCard['trainset'] | undefined) ?? null,
    createdAt: (raw.createdAt as string | undefined) ?? '',
  } as ValidModelCard;
}

/** Reads and validates the package in `dir`. */
export function readModelPackage(dir: string): ModelPackage {
  const card = validateModelCard(readModelCard(dir), modelCardPath(dir));
  const pkg: ModelPackage = {
    id: card.id,
    dir,
    card,
    imageOnnx: join(dir, 'image.onnx'),
    textOnnx: join(dir, 'text.onnx'),
    vocabPath: join(dir, card.text.vocab ?? VOCAB_FILE),
  };
  for (const [what, p] of [['image.onnx', pkg.imageOnnx], ['text.onnx', pkg.textOnnx], ['the tokenizer vocabulary', pkg.vocabPath]] as const) {
    if (!existsSync(p) || !statSync(p).isFile() || statSync(p).size === 0) {
      throw new UserError(`model package ${dir} is incomplete: ${what} (${p}) is missing or empty`, 'bad_model');
    }
  }
  // Sizes against model.json's `files` (written by the engine since packages carry checksums).
  for (const [name, want] of packageFiles(pkg)) {
    const p = join(dir, name);
    const size = existsSync(p) ? statSync(p).size : -1;
    if (size !== want.bytes) {
      throw new UserError(`model package ${dir} is corrupt: ${name} has ${size < 0 ? 'no file' : `${size} bytes`}, model.json says ${want.bytes} (truncated or replaced)`, 'bad_model');
    }
  }
  return pkg;
}

export interface PackageFileSum {
  bytes: number;
  sha256: string;
}

/** model.json's `files` ({name: {bytes, sha256}}); empty for packages written before checksums. */
export function packageFiles(pkg: ModelPackage): Array<[string, PackageFileSum]> {
  const files = pkg.card.files;
  if (!isObj(files)) return [];
  const out: Array<[string, PackageFileSum]> = [];
  for (const [name, v] of Object.entries(files)) {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.') || !isObj(v)) continue;
    if (typeof v.bytes !== 'number' || typeof v.sha256 !== 'string') continue;
    out.push([name, { bytes: v.bytes, sha256: v.sha256 }]);
  }
  return out;
}

/**
 * SHA-256 of files, remembered per process: a file is hashed once and its digest reused while its
 * identity and stat stay the same (device, inode, size, mtime and ctime, in nanoseconds; links to
 * one file share its digest). Any
 * write, truncation, replacement (a new inode) or touch changes one of them, and the file is
 * hashed again; ctime cannot be set back by a program, so restoring an old mtime does not hide a
 * change. A digest is only remembered when the stat before and after hashing agree (a file
 * written while it was read is hashed again next time).
 */
const digests = new Map<string, { stamp: string; sha256: Promise<string> }>();
const digestCounts = { computed: 0, reused: 0 };

function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** The SHA-256 of the file at `path` (hex), hashed only when the file changed since the last call. */
export function fileSha256(path: string): Promise<string> {
  let st: BigIntStats;
  try {
    st = statSync(path, { bigint: true });
  } catch (err) {
    return Promise.reject(err);
  }
  const stamp = stampOf(st);
  const file = `${st.dev}:${st.ino}`;
  const known = digests.get(file);
  if (known && known.stamp === stamp) {
    digestCounts.reused++;
    return known.sha256;
  }
  digestCounts.computed++;
  const sha256 = sha256File(path).then((sum) => {
    let after: string | null = null;
    try {
      after = stampOf(statSync(path, { bigint: true }));
    } catch {
      /* gone: forget it below */
    }
    if (after !== stamp && digests.get(file)?.sha256 === sha256) digests.delete(file);
    return sum;
  });
  sha256.catch(() => {
    if (digests.get(file)?.sha256 === sha256) digests.delete(file);
  });
  digests.set(file, { stamp, sha256 });
  return sha256;
}

/** How many digests were computed and how many reused since the process started (tests, benches). */
export function fileDigestCounts(): { computed: number; reused: number } {
  return { ...digestCounts };
}

/**
 * Checks the files a model needs at run time (the ONNX graphs and the vocabulary) against the
 * SHA-256 sums in model.json; a mismatch is a UserError (bad_model) naming the file. Packages
 * without sums pass (their sizes were checked when read). A file is hashed once per process and
 * re-checked only when it changes (`fileSha256`), so hot swaps and repeated evaluations do not
 * re-read whole graphs.
 */
export async function verifyModelPackage(pkg: ModelPackage): Promise<void> {
  const sums = new Map(packageFiles(pkg));
  for (const p of [pkg.imageOnnx, pkg.textOnnx, pkg.vocabPath]) {
    const name = p.slice(pkg.dir.length + 1);
    const want = sums.get(name);
    if (!want) continue;
    const got = await fileSha256(p);
    if (got !== want.sha256) throw new UserError(`model package ${pkg.dir} is corrupt: ${name} fails its SHA-256 check (model.json has ${want.sha256.slice(0, 12)}…, the file ${got.slice(0, 12)}…)`, 'bad_model');
  }
}

/** The package of model `id` in the workspace. */
export function loadModelPackage(ws: Workspace, id: string): ModelPackage {
  const dir = modelDir(ws, id);
  if (!existsSync(modelCardPath(dir))) {
    throw new NotFoundError(`unknown model ${JSON.stringify(id)} (no ${modelCardPath(dir)})`, 'model_not_found');
  }
  return readModelPackage(dir);
}

/**
 * What an image index depends on in a package: the image graph's bytes and the preprocessing.
 * Two packages with equal fingerprints embed every image identically.
 */
export async function imageFingerprint(pkg: ModelPackage): Promise<string> {
  const onnx = await fileSha256(pkg.imageOnnx);
  const { size, mean, std, resize, crop } = pkg.card.image;
  return `${onnx}:${JSON.stringify({ size, mean, std, resize, crop })}`;
}
