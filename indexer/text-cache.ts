import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, writeFileAtomic, writeJsonAtomic } from '../core/fsutil.js';
import type { Workspace } from '../core/workspace.js';
import { fileSha256, loadModelPackage, packageFiles } from './package.js';
import type { ClipEncoder } from './types.js';

/**
 * Caption embeddings cached on disk per (text graph, texts): evaluations of one model over one
 * split encode the same captions every time (5,000 test captions are most of an Attack II
 * evaluation's time). The key is content only — the sha256 of the package's text graph and
 * vocabulary as model.json records them (checked when the package loads) and the sha256 of the
 * texts — so a changed model or manifest can never be served stale vectors; nothing expires by
 * time. Packages without recorded checksums are not cached.
 */
export interface TextCacheKey {
  /** What identifies the text encoder (graph, vocabulary and context length). */
  encoder: string;
  texts: string[];
}

/**
 * The text encoder's content identity of a model package, or null when it records no checksums
 * (or is no package, or its text graph or vocabulary no longer match the sums model.json
 * records: such a package is refused when loaded, and its texts are never cached). The files are
 * hashed once per process and again only when they change (`fileSha256`).
 */
export async function textEncoderKey(ws: Workspace, modelId: string): Promise<string | null> {
  let pkg;
  try {
    pkg = loadModelPackage(ws, modelId);
  } catch {
    return null;
  }
  const files = new Map(packageFiles(pkg));
  const vocabName = pkg.card.text.vocab ?? 'bpe_simple_vocab_16e6.txt.gz';
  const graph = files.get('text.onnx')?.sha256;
  if (!graph) return null;
  const vocab = files.get(vocabName)?.sha256 ?? '';
  try {
    if ((await fileSha256(pkg.textOnnx)) !== graph) return null;
    if (vocab && (await fileSha256(pkg.vocabPath)) !== vocab) return null;
  } catch {
    return null;
  }
  return sha256(`${graph}\u0000${vocab}\u0000${pkg.card.text.contextLength}`);
}

/**
 * `encoder` with its larger `encodeTexts` calls (at least `minTexts` texts: caption sets, label
 * prototypes; never single search queries) answered from the on-disk cache of model `modelId`
 * when the same texts were encoded by the same text graph before, and cached otherwise.
 */
export function withTextCache<E extends Pick<ClipEncoder, 'encodeTexts' | 'dim'>>(ws: Workspace, modelId: string, encoder: E, minTexts = 100): Pick<ClipEncoder, 'encodeTexts' | 'dim'> {
  return {
    dim: encoder.dim,
    async encodeTexts(texts: string[]): Promise<Float32Array[]> {
      if (texts.length < minTexts) return encoder.encodeTexts(texts);
      const key = await textEncoderKey(ws, modelId);
      if (!key) return encoder.encodeTexts(texts);
      const vectors = await cachedTextEmbeddings(ws, { encoder: key, texts }, (t) => encoder.encodeTexts(t));
      // Copies: callers may keep or change the rows.
      return vectors.map((v) => v.slice());
    },
  };
}

function cachePaths(ws: Workspace, key: TextCacheKey): { vectors: string; meta: string; textsSha: string } {
  const textsSha = sha256(key.texts.join('\u0000'));
  const base = join(ws.cache, 'text-embeds', `${key.encoder.slice(0, 24)}-${textsSha.slice(0, 24)}`);
  return { vectors: `${base}.f32`, meta: `${base}.json`, textsSha };
}

/** The cached embeddings of `key.texts` (one per text, in order), else `encode`'s, then cached. */
export async function cachedTextEmbeddings(ws: Workspace, key: TextCacheKey, encode: (texts: string[]) => Promise<Float32Array[]>): Promise<Float32Array[]> {
  const p = cachePaths(ws, key);
  const hit = readCache(p, key);
  if (hit) return hit;
  const vectors = await encode(key.texts);
  const dim = vectors[0]?.length ?? 0;
  const flat = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => flat.set(v, i * dim));
  writeFileAtomic(p.vectors, new Uint8Array(flat.buffer));
  // the meta file last: it vouches for the vectors beside it
  writeJsonAtomic(p.meta, { encoder: key.encoder, textsSha256: p.textsSha, count: vectors.length, dim, vectorsSha256: sha256(new Uint8Array(flat.buffer)) });
  return vectors;
}

function readCache(p: { vectors: string; meta: string; textsSha: string }, key: TextCacheKey): Float32Array[] | null {
  if (!existsSync(p.meta) || !existsSync(p.vectors)) return null;
  try {
    const meta = JSON.parse(readFileSync(p.meta, 'utf8')) as { encoder: string; textsSha256: string; count: number; dim: number; vectorsSha256: string };
    if (meta.encoder !== key.encoder || meta.textsSha256 !== p.textsSha || meta.count !== key.texts.length) return null;
    const bytes = readFileSync(p.vectors);
    if (bytes.length !== meta.count * meta.dim * 4 || sha256(bytes) !== meta.vectorsSha256) return null;
    const flat = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    return Array.from({ length: meta.count }, (_, i) => flat.subarray(i * meta.dim, (i + 1) * meta.dim));
  } catch {
    return null;
  }
}
