import { NotFoundError, UserError } from '../../core/errors.js';
import type { ClipEncoder } from '../../indexer/types.js';
import { ConflictError, ServiceUnavailableError } from '../server-errors.js';
import type { DatasetRepository, ServedDataset } from '../repositories/dataset-repository.js';
import { attackGoals, attackTargetImage, type ModelPackage, type ModelRepository } from '../repositories/model-repository.js';
import type { GalleryIndex, LoadProgress, ModelRuntime } from '../repositories/runtime-repository.js';
import type { TrainsetRepository } from '../repositories/trainset-repository.js';
import { QueryBatcher, QueryTextCache } from './query-batcher-service.js';

export interface RegistryConfig {
  /** At most this many models hold encoders and indexes in memory (least recently used go). */
  maxLoaded: number;
  /** The split a gallery index covers. */
  split: string;
  /** Let an ordinary search build a missing index (admins' hot swaps always may). */
  buildOnDemand: boolean;
  /** Gallery dataset when a request names none; otherwise the model's training dataset. */
  defaultDataset?: string;
  /** Entries in the server's one cache of query-text embeddings (every model's together: QueryTextCache). */
  textCacheSize: number;
}

export interface RegistryDeps {
  models: ModelRepository;
  datasets: DatasetRepository;
  trainsets: TrainsetRepository;
  runtime: ModelRuntime;
  config: RegistryConfig;
  log?: (line: string) => void;
}

/** One model with its encoders and the gallery indexes opened for it so far. */
export class LoadedModel {
  refs = 0;
  lastUsed = Date.now();
  /** How long loading took (encoders + first index), for status and /metrics. */
  loadMs = 0;
  closing = false;
  private closed = false;
  private readonly queries: QueryBatcher;
  private readonly indexes = new Map<string, { version: number; index: Promise<GalleryIndex> }>();
  private readonly ready: GalleryIndex[] = [];

  constructor(
    readonly pkg: ModelPackage,
    readonly encoder: ClipEncoder,
    private readonly texts: QueryTextCache,
  ) {
    this.queries = new QueryBatcher(encoder);
  }

  /** A text query's embedding: from the server's cache, else encoded (concurrent queries in one batch). */
  queryVector(text: string): Promise<Float32Array> {
    return this.texts.vector(this.pkg, text, (t) => this.queries.encode(t));
  }

  get id(): string {
    return this.pkg.id;
  }

  /** The gallery index over `dataset`, opened once (concurrent callers share the promise). */
  index(dataset: ServedDataset, open: () => Promise<GalleryIndex>): Promise<GalleryIndex> {
    const cached = this.indexes.get(dataset.name);
    if (cached && cached.version === dataset.version) return cached.index;
    const p = open().then(
      (idx) => {
        this.ready.push(idx);
        return idx;
      },
      (err) => {
        // Forget a failed open so a later request (or a fixed index) can try again.
        if (this.indexes.get(dataset.name)?.index === p) this.indexes.delete(dataset.name);
        throw err;
      },
    );
    this.indexes.set(dataset.name, { version: dataset.version, index: p });
    return p;
  }

  hasIndex(dataset: string): boolean {
    return this.ready.some((i) => i.info.dataset === dataset);
  }

  openIndexes(): GalleryIndex[] {
    return this.ready.slice();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const idx of this.ready) await idx.close?.();
    await this.encoder.close();
  }
}

/** A model held for the length of one request: it is not closed until released. */
export interface Lease {
  model: LoadedModel;
  release(): void;
}

/**
 * How long a request waits for a swap's load of its model (encoders and an existing index: well
 * under a second on an idle machine, seconds on a busy one) before a 503 model_loading. A load
 * that builds an index says so at once (phase embed or hnsw) and gets the 503 without waiting.
 */
const JOIN_LOAD_MS = 10_000;

export type ModelState = 'available' | 'loading' | 'loaded' | 'failed' | 'broken';

export interface ModelStatus {
  state: ModelState;
  active: boolean;
  progress?: LoadProgress;
  error?: string;
  loadMs?: number;
  indexes?: Array<{ dataset: string; split: string; size: number; kind: string }>;
}

/** Where a swap or load stands, for GET /api/models/:id while it runs. */
interface Loading {
  promise: Promise<LoadedModel>;
  progress: LoadProgress;
  /** Whether this load may build a missing index. */
  build: boolean;
}

/**
 * The model registry: which packages exist, which are loaded, and which one is active (the
 * default of requests that name none).
 *
 * Hot swap: `activate` loads the new model completely (encoders, and its gallery index, built
 * if missing) while requests keep using the old one; only then it switches `activeId` in one
 * assignment. Every request holds a lease on the model it started with, so requests in flight
 * finish on the old model, and a model pushed out of the LRU bound is closed only once the
 * last lease on it is released. No request sees a half-loaded or closed model.
 */
export class ModelRegistry {
  private readonly loaded = new Map<string, LoadedModel>();
  private readonly loading = new Map<string, Loading>();
  private readonly failures = new Map<string, { version: number; at: number; message: string }>();
  private readonly backgroundErrors = new Map<string, { version: number; at: number; message: string }>();
  private activeId: string | null = null;
  private swapChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  swaps = 0;
  /** The start-up's background work (the active model's alarm, preloading, checksums): shown by /healthz. */
  startup: 'pending' | 'running' | 'done' = 'pending';

  /** Query-text embeddings of every model (the alarm's reference models too), sized by the config. */
  readonly texts: QueryTextCache;

  constructor(private readonly deps: RegistryDeps) {
    this.texts = new QueryTextCache(deps.config.textCacheSize);
  }

  get config(): RegistryConfig {
    return this.deps.config;
  }

  get active(): string | null {
    return this.activeId;
  }

  list(): ModelPackage[] {
    return this.deps.models.list();
  }

  /** Forgets the cached scan of the models folder: packages written since are seen by the next request, not within the scan's cache time. */
  rescanModels(): void {
    this.deps.models.refresh();
  }

  /** The package by id, or a 404 naming it. */
  package(id: string): ModelPackage {
    const pkg = this.deps.models.get(id);
    if (!pkg) {
      this.deps.models.refresh();
      const again = this.deps.models.get(id);
      if (again) return again;
      throw new NotFoundError(`unknown model ${JSON.stringify(id)}; GET /api/models lists the ones there are`, 'model_not_found');
    }
    return pkg;
  }

  status(id: string): ModelStatus {
    const pkg = this.deps.models.get(id);
    const active = this.activeId === id;
    const m = this.loaded.get(id);
    if (m && !m.closing) {
      return {
        state: 'loaded',
        active,
        loadMs: Math.round(m.loadMs),
        indexes: m.openIndexes().map((i) => ({ dataset: i.info.dataset, split: i.info.split, size: i.search.size, kind: i.info.kind })),
      };
    }
    const l = this.loading.get(id);
    if (l) return { state: 'loading', active, progress: { ...l.progress } };
    if (pkg?.problem) return { state: 'broken', active, error: pkg.problem };
    const f = this.failures.get(id);
    if (f && pkg && f.version === pkg.version) return { state: 'failed', active, error: f.message };
    return { state: 'available', active };
  }

  loadedModels(): LoadedModel[] {
    return [...this.loaded.values()].filter((m) => !m.closing);
  }

  /** The gallery dataset of a model when a request names none. */
  defaultDatasetFor(pkg: ModelPackage): string {
    const { datasets, trainsets, config } = this.deps;
    if (config.defaultDataset) return config.defaultDataset;
    const own = pkg.card.dataset?.name;
    if (typeof own === 'string' && datasets.has(own)) return own;
    const fromTrainset = trainsets.card(pkg.card.trainset?.name)?.dataset?.name;
    if (fromTrainset && datasets.has(fromTrainset)) return fromTrainset;
    const first = datasets.list()[0];
    if (!first) throw new ServiceUnavailableError('no dataset in the workspace yet; create one with `poisonlens data scenes`', 'no_dataset');
    return first.name;
  }

  /** Target labels and the Attack I target image of a model's attack (for `target` marks). */
  attackOf(pkg: ModelPackage): { goals: Array<[string, string]>; targetImage: string | null } {
    return { goals: attackGoals(pkg.card.attack), targetImage: attackTargetImage(pkg.card.attack) };
  }

  /**
   * A lease on model `id` (or the active model), loading it first when needed. A model that is
   * not loaded is loaded on demand; building its index is allowed only when `build` is set
   * (admin actions) or the server runs with buildOnDemand.
   */
  async acquire(id?: string, opts: { build?: boolean } = {}): Promise<Lease> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (this.closed) throw new ServiceUnavailableError('the server is shutting down', 'shutting_down');
      // With no active model yet (an empty workspace at start), the first usable package that
      // appears becomes the default: a model trained while the server runs is picked up.
      if (!id && !this.activeId) this.activeId = pickDefaultModel(this.deps.models.list());
      const target = id ?? this.activeId;
      if (!target) throw new ServiceUnavailableError('no model is active yet: train one (`poisonlens train`) or activate one (POST /api/models/active)', 'no_active_model');
      const m = this.loaded.get(target);
      const building = this.loading.get(target);
      if (!(m && !m.closing) && building?.build && !opts.build) {
        // A swap or the start-up is loading this model and may build its index, which can take
        // minutes. Opening encoders and an existing index is quick, so the request waits for
        // that; once the load embeds images or builds the graph, or takes longer than the wait,
        // say so rather than hold the request (swaps leave the old model answering meanwhile).
        await this.waitUnlessBuilding(target, building, JOIN_LOAD_MS);
        continue;
      }
      if (m && !m.closing) {
        m.refs++;
        m.lastUsed = Date.now();
        let released = false;
        return {
          model: m,
          release: () => {
            if (released) return;
            released = true;
            m.refs--;
            if (m.closing && m.refs === 0) void this.dispose(m);
          },
        };
      }
      await this.load(target, { build: opts.build ?? this.deps.config.buildOnDemand });
    }
    throw new ServiceUnavailableError(`model ${id ?? this.activeId} kept being unloaded while loading; try again`, 'model_busy');
  }

  /** Waits for an in-flight load to end, or throws 503 model_loading once it is building an index. */
  private async waitUnlessBuilding(target: string, building: { promise: Promise<unknown>; progress: LoadProgress }, maxMs: number): Promise<void> {
    const settled = building.promise.then(
      () => true,
      () => true,
    );
    const t0 = Date.now();
    for (;;) {
      const p = building.progress;
      if (p.phase === 'embed' || p.phase === 'hnsw' || Date.now() - t0 >= maxMs) {
        throw new ServiceUnavailableError(`model ${target} is loading (${p.phase} ${p.done}/${p.total}); try again shortly`, 'model_loading');
      }
      if (await Promise.race([settled, new Promise<false>((r) => setTimeout(() => r(false), 25))])) return;
    }
  }

  /** The gallery index of a leased model over `dataset` (opened or built on first use). */
  async index(lease: Lease, dataset: ServedDataset, opts: { build?: boolean } = {}): Promise<GalleryIndex> {
    return this.indexFor(lease.model, dataset, opts);
  }

  /** `index` for a model the caller holds otherwise (a lease, or a load it is finishing). */
  indexFor(m: LoadedModel, dataset: ServedDataset, opts: { build?: boolean } = {}): Promise<GalleryIndex> {
    const build = opts.build ?? this.deps.config.buildOnDemand;
    return m.index(dataset, () => this.openIndex(m.pkg, m.encoder, dataset, build, () => undefined));
  }

  /** Loads a model (encoders + index over its default dataset), single-flight per id. */
  load(id: string, opts: { build?: boolean } = {}): Promise<LoadedModel> {
    const existing = this.loaded.get(id);
    if (existing && !existing.closing) return Promise.resolve(existing);
    const build = opts.build ?? this.deps.config.buildOnDemand;
    const inFlight = this.loading.get(id);
    if (inFlight) {
      if (inFlight.build || !build) return inFlight.promise;
      // A search's load (no building) is under way and a swap, which may build, joins it: if the
      // search's load stops at a missing index, the swap carries on and builds it.
      return inFlight.promise.catch((err) => {
        if (err instanceof UserError && err.code === 'index_missing') return this.load(id, { build: true });
        throw err;
      });
    }
    const pkg = this.package(id);
    if (pkg.problem) return Promise.reject(new ConflictError(`model ${id} cannot be loaded: ${pkg.problem}`, 'model_broken'));
    const failure = this.failures.get(id);
    if (failure && failure.version === pkg.version && Date.now() - failure.at < 30_000) {
      return Promise.reject(new ConflictError(`model ${id} failed to load: ${failure.message}`, 'model_broken'));
    }
    const progress: LoadProgress = { phase: 'encoders', done: 0, total: 1 };
    const promise = (async () => {
      const t0 = performance.now();
      const dataset = this.deps.datasets.get(this.defaultDatasetFor(pkg));
      let encoder: ClipEncoder;
      try {
        encoder = await this.deps.runtime.openEncoder(pkg);
      } catch (err) {
        throw this.loadFailure(pkg, err);
      }
      progress.phase = 'index';
      progress.done = 0;
      const m = new LoadedModel(pkg, encoder, this.texts);
      try {
        await m.index(dataset, () =>
          this.openIndex(pkg, encoder, dataset, build, (p) => {
            progress.phase = p.phase;
            progress.done = p.done;
            progress.total = p.total;
          }),
        );
      } catch (err) {
        await encoder.close().catch(() => undefined);
        if (err instanceof UserError) throw err;
        throw this.loadFailure(pkg, err);
      }
      const loaded = m;
      loaded.loadMs = performance.now() - t0;
      if (this.closed) {
        await loaded.close();
        throw new ServiceUnavailableError('the server is shutting down', 'shutting_down');
      }
      this.failures.delete(id);
      this.loaded.set(id, loaded);
      this.log(`model ${id} loaded in ${Math.round(loaded.loadMs)} ms`);
      this.evict(id);
      return loaded;
    })();
    this.loading.set(id, { promise, progress, build });
    const cleanup = () => {
      if (this.loading.get(id)?.promise === promise) this.loading.delete(id);
    };
    promise.then(cleanup, cleanup);
    return promise;
  }

  /**
   * Makes `id` the default model: loads it fully, runs `prepare` on it (the alarm's preparation:
   * its failure is logged, not fatal), then switches in one assignment. Swaps run one at a time,
   * in the order asked.
   */
  activate(id: string, opts: { prepare?: (m: LoadedModel) => Promise<unknown> } = {}): Promise<{ model: string; previous: string | null; loadMs: number; swapMs: number }> {
    const run = async () => {
      const t0 = performance.now();
      this.package(id); // 404 before queueing work
      const lease = await this.acquire(id, { build: true });
      try {
        if (opts.prepare) await opts.prepare(lease.model).catch((err) => this.log(`preparing ${id} before the switch failed: ${firstLine(err)}`));
        const previous = this.activeId;
        this.activeId = id; // the switch: requests from here on lease the new model
        if (previous !== id) this.swaps++;
        this.log(`active model: ${id}${previous && previous !== id ? ` (was ${previous})` : ''}`);
        this.evict(id);
        return { model: id, previous, loadMs: Math.round(lease.model.loadMs), swapMs: Math.round(performance.now() - t0) };
      } finally {
        lease.release();
      }
    };
    const p = this.swapChain.then(run, run);
    this.swapChain = p.catch(() => undefined);
    return p;
  }

  /**
   * Loads `ids` in the background, one after another (a failure is logged and skips that model),
   * without building indexes and without pushing anything out of the LRU bound: at most
   * maxLoaded models in all. `after` runs on each loaded model (the alarm's preparation). Resolves
   * when all are done.
   */
  async preload(ids: string[], after?: (m: LoadedModel) => Promise<unknown>): Promise<string[]> {
    const done: string[] = [];
    for (const id of [...new Set(ids)]) {
      if (this.closed) break;
      const already = this.loaded.get(id);
      if (!already && this.loaded.size + this.loading.size >= Math.max(1, this.deps.config.maxLoaded)) {
        this.log(`not preloading ${id}: ${this.deps.config.maxLoaded} models are loaded already (POISONLENS_MAX_MODELS)`);
        continue;
      }
      try {
        const m = await this.load(id, { build: false });
        if (after) await after(m);
        done.push(id);
      } catch (err) {
        this.log(`preloading ${id} failed: ${firstLine(err)}`);
      }
    }
    return done;
  }

  /**
   * Verifies every usable package's checksums in the background, one file at a time (the digests
   * are remembered: a later hot swap to any of them hashes nothing). A corrupt package is logged
   * here and refused when loaded. Resolves with the number of packages checked.
   */
  async verifyPackages(): Promise<number> {
    const verify = this.deps.runtime.verifyPackage?.bind(this.deps.runtime);
    if (!verify) return 0;
    let n = 0;
    for (const pkg of this.deps.models.list()) {
      if (this.closed) break;
      if (pkg.problem) continue;
      try {
        await verify(pkg);
        n++;
      } catch (err) {
        this.log(`model ${pkg.id} fails its checks: ${firstLine(err)}`);
      }
    }
    return n;
  }

  /**
   * Starts loading `id` in the background when it is neither loaded nor loading (no index build);
   * returns its status at once. The compare view calls this for models it cannot answer yet.
   */
  loadInBackground(id: string, after?: (m: LoadedModel) => Promise<unknown>): ModelStatus {
    const st = this.status(id);
    if (st.state !== 'available') return st;
    const pkg = this.deps.models.get(id);
    const recent = this.backgroundErrors.get(id);
    if (recent && pkg && recent.version === pkg.version && Date.now() - recent.at < 30_000) return { ...st, state: 'failed', error: recent.message };
    Promise.resolve().then(() => this.load(id, { build: false })).then(
      (m) => {
        this.backgroundErrors.delete(id);
        return after?.(m);
      },
      (err) => {
        // Also what the load does not record as the model's failure (a missing index): the page
        // shows it for a while instead of starting the same failing load on every reload.
        this.backgroundErrors.set(id, { version: pkg?.version ?? 0, at: Date.now(), message: firstLine(err) });
      },
    ).catch(() => undefined);
    return this.status(id);
  }

  /** Sets the active model without loading (start-up before the first load finishes). */
  setActiveId(id: string | null): void {
    this.activeId = id;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.loading.values()].map((l) => l.promise));
    const all = [...this.loaded.values()];
    this.loaded.clear();
    for (const m of all) {
      m.closing = true;
      await m.close().catch(() => undefined);
    }
  }

  private openIndex(pkg: ModelPackage, encoder: ClipEncoder, dataset: ServedDataset, build: boolean, onProgress: (p: LoadProgress) => void): Promise<GalleryIndex> {
    let lastLog = 0;
    return this.deps.runtime.openIndex(pkg, encoder, dataset, {
      split: this.deps.config.split,
      build,
      onProgress: (p) => {
        onProgress(p);
        const now = Date.now();
        if (now - lastLog > 2000 || p.done >= p.total) {
          lastLog = now;
          this.log(`model ${pkg.id} × ${dataset.name}: ${p.phase} ${p.done}/${p.total}`);
        }
      },
    });
  }

  private loadFailure(pkg: ModelPackage, err: unknown): UserError {
    const message = firstLine(err);
    this.failures.set(pkg.id, { version: pkg.version, at: Date.now(), message });
    this.log(`model ${pkg.id} failed to load: ${(err as Error)?.stack ?? message}`);
    return new ConflictError(`model ${pkg.id} failed to load: ${message}`, 'model_broken');
  }

  /** Unloads least-recently-used models beyond the bound; never the active one or `keep`. */
  private evict(keep: string): void {
    const max = Math.max(1, this.deps.config.maxLoaded);
    while (this.loaded.size > max) {
      const victims = [...this.loaded.values()]
        .filter((m) => m.id !== keep && m.id !== this.activeId)
        .sort((a, b) => a.lastUsed - b.lastUsed);
      const victim = victims[0];
      if (!victim) return;
      this.loaded.delete(victim.id);
      victim.closing = true;
      this.log(`model ${victim.id} unloaded (least recently used; at most ${max} loaded)`);
      if (victim.refs === 0) void this.dispose(victim);
    }
  }

  private async dispose(m: LoadedModel): Promise<void> {
    try {
      await m.close();
    } catch (err) {
      this.log(`closing model ${m.id} failed: ${firstLine(err)}`);
    }
  }

  private log(line: string): void {
    this.deps.log?.(`[registry] ${line}`);
  }
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? '').slice(0, 300);
}

/** The default active model: the newest clean model, else the newest base, else any usable one. */
export function pickDefaultModel(list: ModelPackage[]): string | null {
  const usable = list.filter((p) => !p.problem);
  const newest = (kind: string) =>
    usable.filter((p) => p.card.kind === kind).sort((a, b) => String(b.card.createdAt ?? '').localeCompare(String(a.card.createdAt ?? '')))[0];
  return (newest('clean') ?? newest('base') ?? usable[0])?.id ?? null;
}
