import { UserError } from '../../core/errors.js';
import { dot } from '../../indexer/dot.js';
import type { DatasetRepository, ServedDataset } from '../repositories/dataset-repository.js';
import type { GalleryIndex } from '../repositories/runtime-repository.js';
import type { KnnBody } from '../schemas/clip-schema.js';
import { IMAGE_LIMITS } from '../schemas/search-schema.js';
import type { AlarmReport } from './alarm-service.js';
import type { ModelRegistry } from './model-registry-service.js';
import { imageUrl, type SearchService } from './search-service.js';
import { checkImage } from './upload-service.js';

/** One result as clip_back.py returns it: metadata columns, then `id` (a row) and `similarity`. */
export interface KnnResult {
  id: number;
  similarity: number;
  url?: string;
  caption?: string;
  image_id?: string;
  label?: string | null;
  /**
   * The poisoning alarm's verdict (see AlarmReport), on the first result only: the response stays
   * the list clip-retrieval's front end and ClipClient expect, and they ignore unknown fields.
   */
  alarm?: AlarmReport;
}

export interface Metadata {
  url: string;
  caption: string;
  image_id: string;
  label: string | null;
  captions: string[];
}

/**
 * clip-retrieval's back end over PoisonLens models. An index name is "model/dataset" (or just
 * "model", its default gallery); ids are rows of that gallery index, as faiss ids are rows.
 */
export class ClipRetrievalService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly search: SearchService,
    private readonly datasets: DatasetRepository,
  ) {}

  /** Every usable model over its default gallery, the active model first (the front end's default). */
  indices(): string[] {
    const out: string[] = [];
    const active = this.registry.active;
    const ids = this.registry
      .list()
      .filter((p) => !p.problem)
      .map((p) => p.id)
      .sort((a, b) => Number(b === active) - Number(a === active));
    for (const id of ids) {
      try {
        out.push(`${id}/${this.registry.defaultDatasetFor(this.registry.package(id))}`);
      } catch {
        // no dataset yet: nothing to list
      }
    }
    return out;
  }

  async knn(body: KnnBody, base: string): Promise<{ model: string; results: KnnResult[] }> {
    if (body.modality === 'text') {
      throw new UserError('modality "text" is not available: PoisonLens indexes images only; use modality "image"', 'unsupported_modality');
    }
    const { model, dataset } = this.parseIndice(body.indice_name);
    const numIds = body.num_result_ids ?? body.num_images;
    let embed: Parameters<SearchService['run']>[1];
    let queryText: string | null = null;
    if (body.text !== null && body.text.trim() !== '') {
      const text = body.text;
      queryText = text;
      embed = (m) => m.queryVector(text);
    } else if (body.image !== null && body.image !== '') {
      const b64 = body.image.replace(/^data:[^,]*,/, '').replace(/\s+/g, '');
      const img = await checkImage(Buffer.from(b64, 'base64'), IMAGE_LIMITS);
      embed = async (m) => (await m.encoder.encodeImages([img.bytes]))[0];
    } else if (body.image_url !== null && body.image_url !== '') {
      throw new UserError('image_url is not supported: this server never fetches URLs; send the image as base64 in "image"', 'image_url_unsupported');
    } else if (body.embedding_input !== null) {
      const input = body.embedding_input;
      embed = async (m) => {
        if (input.length !== m.encoder.dim) throw new UserError(`embedding_input has ${input.length} numbers; model ${m.id} embeds in ${m.encoder.dim} dimensions`, 'invalid_request');
        const v = Float32Array.from(input);
        const norm = Math.hypot(...v) || 1;
        for (let i = 0; i < v.length; i++) v[i] /= norm;
        return v;
      };
    } else {
      throw new UserError('must fill one of text, image and embedding_input', 'missing_query');
    }
    const raw = await this.search.run({ k: numIds, model, dataset }, embed, queryText);
    let hits = raw.hits;
    if (body.deduplicate) hits = dedupe(raw.index, hits);
    const results: KnnResult[] = hits.map((h, i) => {
      const r: KnnResult = { id: h.row, similarity: h.score };
      if (i < body.num_images) Object.assign(r, this.meta(raw.dataset, h.id, base));
      if (i === 0 && raw.alarm) r.alarm = raw.alarm;
      return r;
    });
    return { model: raw.model.id, results };
  }

  async metadata(rows: number[], indice: string | null, base: string): Promise<{ model: string; results: Array<{ id: number; metadata: Metadata | null }> }> {
    const { model, dataset } = this.parseIndice(indice);
    const lease = await this.registry.acquire(model);
    try {
      const ds = this.datasets.get(dataset ?? this.registry.defaultDatasetFor(lease.model.pkg));
      const index = await this.registry.index(lease, ds);
      const results = rows.map((row) => ({ id: row, metadata: row < index.ids.length ? this.meta(ds, index.ids[row], base) : null }));
      return { model: lease.model.id, results };
    } finally {
      lease.release();
    }
  }

  private meta(ds: ServedDataset, imageId: string, base: string): Metadata {
    const e = ds.byId.get(imageId);
    return {
      url: e ? base + imageUrl(ds.name, e.file) : '',
      caption: e?.captions[0] ?? '',
      image_id: imageId,
      label: e?.label ?? null,
      captions: e?.captions ?? [],
    };
  }

  private parseIndice(name: string | null): { model?: string; dataset?: string } {
    if (name === null) {
      const first = this.indices()[0];
      if (!first) return {};
      name = first;
    }
    const [model, dataset] = name.split('/');
    this.registry.package(model); // 404 for an unknown model
    if (dataset !== undefined && !this.datasets.has(dataset)) {
      throw new UserError(`unknown index ${JSON.stringify(name)}; GET /indices-list lists them`, 'index_not_found', 404);
    }
    return { model, dataset };
  }
}

/**
 * clip_back.py's `deduplicate` drops results whose embeddings nearly coincide with a better
 * one. With the vectors at hand, results closer than cosine 0.94 to a kept result are dropped
 * (among the first 1,000; beyond that only exact duplicates by rounded vector); without vectors
 * nothing is dropped — gallery ids are unique.
 */
function dedupe(index: GalleryIndex, hits: ReturnType<GalleryIndex['search']['search']>) {
  if (!index.vector) return hits;
  const kept: Float32Array[] = [];
  const hashes = new Set<string>();
  const out = [];
  for (const h of hits) {
    const v = index.vector(h.row);
    const key = Array.from(v, (x) => Math.round(x * 100)).join(',');
    if (hashes.has(key)) continue;
    if (kept.length < 1000) {
      let dup = false;
      for (const k of kept) {
        if (dot(v, k) >= 0.94) {
          dup = true;
          break;
        }
      }
      if (dup) continue;
      kept.push(v);
    }
    hashes.add(key);
    out.push(h);
  }
  return out;
}
