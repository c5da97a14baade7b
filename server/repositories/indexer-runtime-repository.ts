import { join } from 'node:path';
import type { Catalog } from '../../core/catalog.js';
import type { Workspace } from '../../core/workspace.js';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { ThreadedClipEncoder } from '../../indexer/threaded-encoder.js';
import { checkSplit, ensureIndex, indexDir, mismatch } from '../../indexer/index-build.js';
import { imageFingerprint, readModelPackage, verifyModelPackage } from '../../indexer/package.js';
import { DEFAULT_HNSW, readIndexCard, type HnswParams } from '../../indexer/vector-index.js';
import type { ClipEncoder } from '../../indexer/types.js';
import { ConflictError } from '../server-errors.js';
import type { ServedDataset } from './dataset-repository.js';
import type { ModelPackage } from './model-repository.js';
import type { GalleryIndex, ModelRuntime, OpenIndexOptions } from './runtime-repository.js';

export interface IndexerRuntimeOptions {
  /** onnxruntime intra-op threads per session. */
  threads?: number;
  /** HNSW parameters of indexes the server builds (defaults: the indexer's). */
  hnsw?: Partial<HnswParams>;
  /** Index builds are recorded here when given. */
  db?: Catalog;
}

/**
 * The production ModelRuntime: the indexer's ONNX encoders and its HNSW gallery indexes
 * (`ensureIndex`: reused when model and manifest hashes match, built otherwise). Encoders run in
 * a worker thread each (ThreadedClipEncoder), so loading a model (onnxruntime creates its
 * sessions synchronously) never stalls the requests the server is answering; package checksums
 * are hashed once per process and re-checked only when a file changes (`fileSha256`).
 */
export function indexerRuntime(ws: Workspace, opts: IndexerRuntimeOptions = {}): ModelRuntime {
  const hnsw: HnswParams = { ...DEFAULT_HNSW, ...opts.hnsw };
  return {
    async openEncoder(pkg: ModelPackage, threads?: number): Promise<ClipEncoder> {
      // A truncated or replaced graph is caught by model.json's checksums before onnxruntime
      // reads it (the registry reports the model as broken and keeps serving the others).
      const checked = readModelPackage(pkg.dir);
      await verifyModelPackage(checked);
      // In a worker thread: onnxruntime-node creates sessions synchronously, which on the event
      // loop stalled every search overlapping a hot swap. No cache in the encoder: the service's
      // query-text cache (sized by the server's config) is the one.
      return ThreadedClipEncoder.start(checked, { intraOpNumThreads: threads ?? opts.threads ?? 2, textCacheSize: 0 });
    },

    async verifyPackage(pkg: ModelPackage): Promise<void> {
      const checked = readModelPackage(pkg.dir);
      await verifyModelPackage(checked);
      await imageFingerprint(checked); // the same digest of image.onnx: remembered for index checks
    },

    async openIndex(pkg: ModelPackage, encoder: ClipEncoder, dataset: ServedDataset, o: OpenIndexOptions): Promise<GalleryIndex> {
      const own = encoder instanceof ThreadedClipEncoder || encoder instanceof OnnxClipEncoder ? encoder.pkg : null;
      if (!own) throw new Error('indexerRuntime.openIndex needs the encoder it opened');
      const split = checkSplit(o.split);
      if (!o.build) {
        // Without leave to build, only an index that fits (same image graph, manifest, split and
        // graph parameters) is opened; anything else is the caller's to fix, not a long stall.
        const dir = indexDir(ws, pkg.id, dataset.name, split);
        const card = readIndexCard(dir);
        const why = card
          ? mismatch(card, { modelId: own.id, fingerprint: await imageFingerprint(own), manifestSha256: dataset.card.manifestSha256, split, hnsw })
          : 'there is none yet';
        if (why) {
          throw new ConflictError(
            `model ${pkg.id} has no usable index over ${dataset.name}/${split} (${why}); build it with \`poisonlens index --model ${pkg.id} --dataset ${dataset.name} --split ${split}\` or activate the model (POST /api/models/active)`,
            'index_missing',
          );
        }
      }
      const { index, built } = await ensureIndex(ws, {
        model: pkg.id,
        dataset: dataset.name,
        split,
        hnsw,
        // A build encodes the gallery in its own image worker; an inline encoder is lent when there is one.
        encoder: encoder instanceof OnnxClipEncoder ? encoder : undefined,
        db: opts.db,
        // Without leave to build, a corrupt index is reported (409 corrupt_index), not rebuilt.
        reuseOnly: !o.build,
        onProgress: (phase, done, total) => o.onProgress?.({ phase, done, total }),
      });
      const { dim } = index.card;
      return {
        search: index.hnsw,
        ids: index.ids,
        vector: (row) => index.vectors.subarray(row * dim, (row + 1) * dim),
        info: { model: pkg.id, dataset: dataset.name, split, kind: 'hnsw', built, path: join(index.dir) },
      };
    },
  };
}
