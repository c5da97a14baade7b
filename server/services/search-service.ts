import type { Neighbour } from '../../indexer/types.js';
import type { ManifestEntry } from '../../data/dataset.js';
import type { DatasetRepository, ServedDataset } from '../repositories/dataset-repository.js';
import type { GalleryIndex } from '../repositories/runtime-repository.js';
import type { TrainsetRepository } from '../repositories/trainset-repository.js';
import { attackGoals } from '../repositories/model-repository.js';
import type { AlarmReport, AlarmService } from './alarm-service.js';
import type { Lease, LoadedModel, ModelRegistry } from './model-registry-service.js';
import type { CheckedImage } from './upload-service.js';

export interface SearchOptions {
  k: number;
  model?: string;
  dataset?: string;
  /** "A>B[,A2>B2]": mark images labelled B as targets (default: the model's own attack). */
  goal?: string;
  /** How long to wait for the alarm's first preparation (default: its setting); the compare view passes 0 and says "preparing". */
  alarmWaitMs?: number;
}

export interface SearchResult {
  rank: number;
  imageId: string;
  url: string;
  thumbUrl: string;
  score: number;
  label: string | null;
  captions: string[];
  poisoned?: boolean;
  target?: boolean;
}

export interface SearchResponse {
  model: string;
  modelKind: string | null;
  dataset: string;
  split: string;
  query: string;
  goal: string | null;
  tookMs: number;
  results: SearchResult[];
  /** The poisoning alarm's verdict on this query (server/services/alarm-service.ts). */
  alarm?: AlarmReport;
}

/** A raw search: the hits plus everything needed to describe them (clip-retrieval uses rows). */
export interface RawSearch {
  model: LoadedModel;
  dataset: ServedDataset;
  index: GalleryIndex;
  hits: Neighbour[];
  tookMs: number;
  alarm?: AlarmReport;
}

/** Where images of a dataset are served (see routes/image-routes.ts). */
export function imageUrl(dataset: string, file: string, kind: 'images' | 'thumbs' = 'images'): string {
  return `/${kind}/${encodeURIComponent(dataset)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Text→image and image→image search over a model's gallery index. Each search leases one model
 * for its whole length, so the embedding, the index and the response's `model` always agree,
 * even while the active model is being swapped.
 */
export class SearchService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly datasets: DatasetRepository,
    private readonly trainsets: TrainsetRepository,
    private readonly alarm?: AlarmService,
  ) {}

  async text(q: string, opts: SearchOptions): Promise<SearchResponse> {
    const raw = await this.run(opts, (m) => m.queryVector(q), q);
    return this.describe(raw, q, opts);
  }

  async image(img: CheckedImage, opts: SearchOptions): Promise<SearchResponse> {
    const raw = await this.run(opts, async (m) => (await m.encoder.encodeImages([img.bytes]))[0]);
    return this.describe(raw, `[image ${img.format} ${img.width}×${img.height}]`, opts);
  }

  /**
   * The shared path: lease the model, embed, search, score the alarm. `embed` runs on the leased
   * model; `vector` queries (clip-retrieval's embedding_input) pass a function that ignores it.
   * `text` is the query's text when it is one (the alarm scores text queries only).
   */
  async run(opts: SearchOptions, embed: (m: LoadedModel) => Promise<Float32Array>, text: string | null = null): Promise<RawSearch> {
    const t0 = performance.now();
    const lease: Lease = await this.registry.acquire(opts.model);
    try {
      const m = lease.model;
      const dataset = this.datasets.get(opts.dataset ?? this.registry.defaultDatasetFor(m.pkg));
      const index = await this.registry.index(lease, dataset);
      const alarm = this.alarm?.begin(m, dataset, index, text, { waitMs: opts.alarmWaitMs });
      const query = await embed(m);
      const k = Math.min(opts.k, index.search.size);
      // The alarm looks at its own top-K whatever k the caller asked for.
      const want = Math.min(Math.max(k, alarm?.k ?? 0), index.search.size);
      const found = want > 0 ? index.search.search(query, want) : [];
      const report = alarm ? await alarm.finish(query, found) : undefined;
      const hits = found.length > k ? found.slice(0, k) : found;
      return { model: m, dataset, index, hits, tookMs: performance.now() - t0, alarm: report };
    } finally {
      lease.release();
    }
  }

  describe(raw: RawSearch, query: string, opts: SearchOptions): SearchResponse {
    const { model, dataset, index, hits, alarm } = raw;
    const pkg = model.pkg;
    const goal = opts.goal ?? (typeof pkg.card.attack?.goal === 'string' ? pkg.card.attack.goal : null);
    const marks = this.marker(model, goal);
    const results: SearchResult[] = [];
    for (const h of hits) {
      const e = dataset.byId.get(h.id);
      results.push(this.result(results.length + 1, h, dataset.name, e, marks));
    }
    return {
      model: pkg.id,
      modelKind: typeof pkg.card.kind === 'string' ? pkg.card.kind : null,
      dataset: dataset.name,
      split: index.info.split,
      query,
      goal,
      tookMs: Math.round(raw.tookMs * 1000) / 1000,
      results,
      ...(alarm ? { alarm } : {}),
    };
  }

  private result(rank: number, h: Neighbour, dataset: string, e: ManifestEntry | undefined, marks: Marker): SearchResult {
    const r: SearchResult = {
      rank,
      imageId: h.id,
      url: e ? imageUrl(dataset, e.file) : '',
      thumbUrl: e ? imageUrl(dataset, e.file, 'thumbs') : '',
      score: Math.round(h.score * 1e6) / 1e6,
      label: e?.label ?? null,
      captions: e?.captions ?? [],
    };
    if (marks.poisoned.size > 0) r.poisoned = marks.poisoned.has(h.id);
    if (marks.hasGoal) r.target = marks.isTarget(h.id, r.label);
    return r;
  }

  private marker(model: LoadedModel, goal: string | null): Marker {
    const goals = attackGoals(goal ? { goal } : null);
    const targetLabels = new Set(goals.map((g) => g[1]));
    const attack = this.registry.attackOf(model.pkg);
    // Attack I's target is one image: mark it alone when the goal is the model's own.
    const ownGoal = goal === model.pkg.card.attack?.goal;
    const targetImage = ownGoal ? attack.targetImage : null;
    const poisoned = model.pkg.card.trainset?.name ? this.trainsets.poisonedImageIds(model.pkg.card.trainset.name) : new Set<string>();
    return {
      hasGoal: goals.length > 0,
      poisoned,
      isTarget: (id, label) => (targetImage ? id === targetImage : label !== null && targetLabels.has(label)),
    };
  }
}

interface Marker {
  hasGoal: boolean;
  poisoned: Set<string>;
  isTarget(id: string, label: string | null): boolean;
}
