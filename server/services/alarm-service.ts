import { alarmK, alarmSignals, DEFAULT_ALARM_K, DEFAULT_FPR, judge, prefetchWords, referenceOwnScores, type AlarmSignals, type AlarmState } from '../../eval/alarm-maths.js';
import {
  baseAncestor,
  calibrationPath,
  DEFAULT_CALIBRATION_QUERIES,
  factsOfCard,
  prepareSides,
  readCalibration,
  runCalibration,
  trustedModels,
  type AlarmSide,
  type CalibrationInputs,
  type CalibrationRecord,
  type ModelFacts,
} from '../../eval/alarm-runtime.js';
import { withTextCache } from '../../indexer/text-cache.js';
import type { Neighbour } from '../../indexer/types.js';
import type { Workspace } from '../../core/workspace.js';
import type { ClipEncoder } from '../../indexer/types.js';
import type { DatasetRepository, ServedDataset } from '../repositories/dataset-repository.js';
import type { ModelPackage } from '../repositories/model-repository.js';
import type { GalleryIndex, ModelRuntime } from '../repositories/runtime-repository.js';
import { QueryBatcher } from './query-batcher-service.js';
import type { LoadedModel, ModelRegistry } from './model-registry-service.js';

/** The alarm's settings (AppConfig.alarm). */
export interface AlarmSettings {
  /** Score every text search (default on). */
  enabled: boolean;
  /** The reference model: "auto" (the served model's base ancestor), a model id, or "none". */
  reference: string;
  /** The trusted models of the calibration: "auto" (defaultTrusted: the reference's clean fine-tunes of the served model's recipe), a model id, or several ids comma-separated (pooled). */
  trusted: string;
  /** The calibrated threshold's false-alarm rate on trusted queries. */
  fpr: number;
  /** Results the alarm scores (at most a third of the gallery). */
  k: number;
  /** Calibration queries (a seeded sample of the gallery's captions). */
  queries: number;
  /** How long a search waits for the alarm's first preparation (encoders, reference index, calibration) before answering with state "preparing". */
  waitMs: number;
  /** Build a missing reference (or trusted) index for the alarm; otherwise, like ordinary searches, only when the server runs with buildOnDemand. */
  build: boolean;
}

export const ALARM_DEFAULTS: AlarmSettings = { enabled: true, reference: 'auto', trusted: 'auto', fpr: DEFAULT_FPR, k: DEFAULT_ALARM_K, queries: DEFAULT_CALIBRATION_QUERIES, waitMs: 15_000, build: false };

/** What every search answers with (`alarm` in /api/search). */
export interface AlarmReport {
  /** ready: scored; preparing: the alarm is still loading; off: disabled; unsupported: not a text query; failed: preparation failed. */
  state: 'ready' | 'preparing' | 'off' | 'unsupported' | 'failed';
  score: number | null;
  flagged: boolean;
  threshold: number | null;
  signals: AlarmSignals;
  /** One line: why the query was flagged, or why it was not scored. */
  reason: string;
  /** The reference model (null: none; the words signal alone). */
  reference: string | null;
  /** The model(s) the threshold was calibrated on, comma-separated. */
  trusted: string | null;
  /** Results scored. */
  k: number;
}

/** A reference (or trusted) model opened for the alarm alone: the registry's LRU never sees it. */
interface OpenedSide extends AlarmSide {
  pkg: ModelPackage;
  index: GalleryIndex;
  queryVector(text: string): Promise<Float32Array>;
  close(): Promise<void>;
}

interface Prepared {
  state: AlarmState;
  reference: OpenedSide | null;
  calibration: CalibrationRecord | null;
  inputs: CalibrationInputs | null;
  trusted: string | null;
}

/** Per query: begin before embedding (the reference encodes the query meanwhile), finish with the served results. */
export interface AlarmHandle {
  /** Results the search must fetch for the alarm (it may return fewer to the caller). */
  k: number;
  finish(query: Float32Array, hits: Neighbour[]): Promise<AlarmReport>;
}

const NO_SIGNALS: AlarmSignals = { reference: null, words: null };

/**
 * onnxruntime threads of the alarm's own encoders (reference, trusted). The reference encodes every
 * query beside the served model (2 threads): with one thread it costs a query 1.12–1.27 ms instead
 * of 1.37–1.52 (cold text cache, 100k gallery; bench/results/2026-12-07-alarm-cold.md).
 */
const REFERENCE_THREADS = 1;

/**
 * The per-query poisoning alarm (issue 21; the maths in eval/alarm-maths.ts). For each served model and
 * gallery it prepares once, in the background: the reference model (the served model's base
 * ancestor unless configured) with its own encoder and its index over the same gallery (opened
 * here, outside the registry, so serving and hot swaps are unaffected), the word index of the
 * gallery's captions, and the calibration (recorded in the workspace, made on the
 * trusted model with the gallery's own captions when missing). Per query it costs one reference
 * text encoding (cached and batched like the served model's), K dot products, one reference
 * top-K search and the query words' posting lists.
 */
export class AlarmService {
  private readonly prepared = new Map<string, Promise<Prepared>>();
  private readonly done = new Map<string, Prepared>();
  private readonly sides = new Map<string, Promise<OpenedSide>>();
  private readonly calibrations = new Map<string, Promise<CalibrationRecord>>();
  private closed = false;

  constructor(
    private readonly deps: {
      ws: Workspace;
      registry: ModelRegistry;
      datasets: DatasetRepository;
      runtime: ModelRuntime;
      settings: AlarmSettings;
      split: string;
      buildOnDemand: boolean;
      log?: (line: string) => void;
      /** Called with every report and the alarm's own time for it in seconds (for /metrics; the report itself stays the same for the same query). */
      onReport?: (model: string, report: AlarmReport, seconds: number) => void;
    },
  ) {}

  get settings(): AlarmSettings {
    return this.deps.settings;
  }

  /** Starts scoring a search of `text` (null: not a text query) on leased model `m`. */
  begin(m: LoadedModel, dataset: ServedDataset, index: GalleryIndex, text: string | null, opts: { waitMs?: number } = {}): AlarmHandle {
    const t0 = performance.now();
    const s = this.deps.settings;
    const waitMs = opts.waitMs ?? s.waitMs;
    const k = alarmK(index.search.size, s.k);
    const report = (r: Omit<AlarmReport, 'k'> & { k?: number }): AlarmReport => {
      const out: AlarmReport = { ...r, k: r.k ?? k };
      this.deps.onReport?.(m.id, out, (performance.now() - t0) / 1000);
      return out;
    };
    const base = { score: null, flagged: false, threshold: null, signals: NO_SIGNALS, reference: null, trusted: null };
    if (!s.enabled) return { k: 0, finish: async () => report({ ...base, state: 'off', reason: 'the alarm is off (POISONLENS_ALARM=0)', k: 0 }) };
    if (text === null) return { k: 0, finish: async () => report({ ...base, state: 'unsupported', reason: 'only text queries are scored', k: 0 }) };
    const key = this.key(m.pkg, dataset);
    const ready = this.done.get(key);
    const pending = ready ? null : this.prepare(m, dataset, index);
    // While the served model encodes the query: the reference encodes it and searches its own
    // top-K, and the words signal walks the query's posting lists (after the served model's
    // encoding is posted: setImmediate runs once this search's synchronous part has).
    let refQuery = ready ? referenceQuery(ready, text) : null;
    if (ready?.state.words) setImmediate(() => prefetchWords(ready.state, text));
    return {
      k,
      finish: async (query, hits) => {
        let p = ready;
        if (!p) {
          const waited = await Promise.race([
            pending!.then((x) => x, () => null),
            new Promise<'late'>((r) => setTimeout(() => r('late'), waitMs).unref()),
          ]);
          if (waited === 'late') return report({ ...base, state: 'preparing', reason: 'the alarm is still preparing (reference model, calibration); try again shortly' });
          if (waited === null) {
            const err = await pending!.catch((e: unknown) => e);
            return report({ ...base, state: 'failed', reason: `the alarm could not be prepared: ${firstLine(err)}` });
          }
          p = waited;
          refQuery = referenceQuery(p, text);
        }
        // Null when the reference closed under us (shutdown): the words signal alone.
        const ref = refQuery ? await refQuery.catch(() => null) : null;
        const signals = alarmSignals(p.state, hits, ref?.vector ?? null, text, ref?.own ?? null);
        const verdict = judge(signals, p.calibration);
        return report({
          state: 'ready',
          score: verdict.score,
          flagged: verdict.flagged,
          threshold: verdict.threshold,
          signals,
          reason: verdict.reason,
          reference: p.reference?.model ?? null,
          trusted: p.trusted,
          k: p.state.k,
        });
      },
    };
  }

  /**
   * Prepares the alarm of model `id` over its default gallery in the background (start-up, the
   * compare view's models); resolves when done or failed (never rejects).
   */
  warm(id: string): Promise<void> {
    if (!this.deps.settings.enabled || this.closed) return Promise.resolve();
    return (async () => {
      const lease = await this.deps.registry.acquire(id);
      try {
        await this.prepareLoaded(lease.model);
      } finally {
        lease.release();
      }
    })().catch((err) => this.log(`could not warm the alarm of ${id}: ${firstLine(err)}`));
  }

  /**
   * Prepares the alarm of a loaded model over its default gallery (a hot swap does this before it
   * switches, so that the first searches on the new model are scored at once instead of waiting).
   */
  async prepareLoaded(m: LoadedModel): Promise<void> {
    if (!this.deps.settings.enabled || this.closed) return;
    const dataset = this.deps.datasets.get(this.deps.registry.defaultDatasetFor(m.pkg));
    const index = await this.deps.registry.indexFor(m, dataset);
    await this.prepare(m, dataset, index);
  }

  /** Whether the alarm of `m` over `dataset` is prepared (searches are scored without waiting). */
  isReady(m: LoadedModel, dataset: ServedDataset): boolean {
    return this.done.has(this.key(m.pkg, dataset));
  }

  /** GET /api/alarm: the alarm of a model over a gallery (prepared if it is not yet). */
  async describe(m: LoadedModel, dataset: ServedDataset, index: GalleryIndex): Promise<Record<string, unknown>> {
    const s = this.deps.settings;
    const out: Record<string, unknown> = { enabled: s.enabled, model: m.id, dataset: dataset.name, split: index.info.split, settings: { ...s } };
    if (!s.enabled) return out;
    const pending = this.prepare(m, dataset, index);
    const p = await Promise.race([pending.then((x) => x, () => null), new Promise<'late'>((r) => setTimeout(() => r('late'), s.waitMs).unref())]);
    if (p === 'late') return { ...out, state: 'preparing' };
    if (p === null) return { ...out, state: 'failed', error: firstLine(await pending.catch((e: unknown) => e)) };
    const cal = p.calibration;
    return {
      ...out,
      state: 'ready',
      reference: p.reference?.model ?? null,
      trusted: p.trusted,
      k: p.state.k,
      signals: { reference: p.state.reference !== null, words: p.state.words !== null },
      calibration: cal
        ? {
            path: calibrationPath(this.deps.ws, cal.reference.id, cal.dataset.name, cal.split, cal.trusted.map((t) => t.id)),
            createdAt: cal.createdAt,
            trusted: cal.trusted.map((t) => t.id),
            reference: cal.reference.id,
            fpr: cal.fpr,
            queries: cal.sample.used,
            source: cal.sample.source,
            scales: cal.scales,
            thresholds: cal.thresholds,
            flaggedRate: cal.flaggedRate,
            notes: cal.notes,
          }
        : null,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.prepared.values()]);
    await Promise.allSettled([...this.calibrations.values()]);
    const sides = await Promise.allSettled([...this.sides.values()]);
    for (const s of sides) if (s.status === 'fulfilled') await s.value.close().catch(() => undefined);
  }

  private key(pkg: ModelPackage, dataset: ServedDataset): string {
    return `${pkg.id}@${pkg.version}|${dataset.name}@${dataset.version}|${this.deps.split}`;
  }

  private prepare(m: LoadedModel, dataset: ServedDataset, index: GalleryIndex): Promise<Prepared> {
    const key = this.key(m.pkg, dataset);
    let p = this.prepared.get(key);
    if (!p) {
      p = this.doPrepare(m, dataset, index).then(
        (x) => {
          this.done.set(key, x);
          return x;
        },
        (err) => {
          this.log(`alarm for ${m.id} × ${dataset.name} not ready (retried in 30 s): ${firstLine(err)}`);
          // Forget a failure after a while so a fixed workspace is picked up.
          setTimeout(() => {
            if (this.prepared.get(key) === p) this.prepared.delete(key);
          }, 30_000).unref();
          throw err;
        },
      );
      p.catch(() => undefined);
      this.prepared.set(key, p);
    }
    return p;
  }

  private facts(): Map<string, ModelFacts> {
    const out = new Map<string, ModelFacts>();
    for (const p of this.deps.registry.list()) {
      if (p.problem) continue;
      out.set(p.id, factsOfCard(p.id, p.card));
    }
    return out;
  }

  private async doPrepare(m: LoadedModel, dataset: ServedDataset, index: GalleryIndex): Promise<Prepared> {
    const t0 = performance.now();
    const s = this.deps.settings;
    const facts = this.facts();
    const refId = s.reference === 'none' ? null : s.reference === 'auto' ? baseAncestor(m.id, facts) : s.reference;
    if (refId !== null && refId !== m.id && !facts.has(refId)) throw new Error(`reference model ${refId} is not in the workspace`);
    const entries = dataset.entries.filter((e) => this.deps.split === 'all' || e.split === this.deps.split);
    const served: AlarmSide = { model: m.id, encoder: withTextCache(this.deps.ws, m.id, m.encoder), gallery: galleryOf(index) };
    const reference = refId !== null && refId !== m.id ? await this.side(refId, dataset) : null;
    const state = prepareSides(served, reference, entries, s.k);
    // Calibration: per reference and gallery, on the trusted models (see trustedModels).
    const calRef = refId ?? m.id;
    const trustedIds = trustedModels(s.trusted, calRef, facts, m.id);
    const inputs: CalibrationInputs = {
      reference: facts.get(calRef) ?? { id: calRef },
      trusted: trustedIds.map((id) => facts.get(id)!),
      dataset: { name: dataset.name, manifestSha256: dataset.card.manifestSha256 },
      split: this.deps.split,
      k: state.k,
      fpr: s.fpr,
      queries: s.queries,
      seed: 0,
    };
    const calibration = await this.calibration(inputs, dataset, entries, served);
    const trusted = trustedIds.join(',');
    this.log(`alarm for ${m.id} × ${dataset.name}: reference ${reference?.model ?? 'none'}, trusted ${trusted}, k ${state.k}, ready in ${Math.round(performance.now() - t0)} ms`);
    return { state, reference, calibration, inputs, trusted };
  }

  /** The recorded calibration for these inputs, made now when there is none. */
  private calibration(inputs: CalibrationInputs, dataset: ServedDataset, entries: ServedDataset['entries'], served: AlarmSide): Promise<CalibrationRecord> {
    const key = JSON.stringify(inputs);
    let p = this.calibrations.get(key);
    if (!p) {
      p = (async () => {
        const found = readCalibration(this.deps.ws, inputs);
        if (found) return found;
        const t0 = performance.now();
        const reference = await this.side(inputs.reference.id, dataset);
        const opened: OpenedSide[] = [];
        try {
          const trusted: AlarmSide[] = [];
          for (const t of inputs.trusted) {
            let side: AlarmSide | undefined = [reference, served].find((x) => x.model === t.id);
            if (!side) opened.push((side = await this.open(t.id, dataset)));
            trusted.push(side);
          }
          const rec = await runCalibration(this.deps.ws, inputs, { trusted, reference }, entries);
          this.log(`alarm calibrated on ${trusted.map((t) => t.model).join(',')} (reference ${inputs.reference.id}, ${rec.sample.used} gallery captions, fpr ${inputs.fpr}) in ${Math.round(performance.now() - t0)} ms: thresholds ${JSON.stringify(rec.thresholds)}`);
          return rec;
        } finally {
          for (const o of opened) await o.close();
        }
      })();
      p.catch(() => this.calibrations.delete(key));
      this.calibrations.set(key, p);
    }
    return p;
  }

  /** The reference model's side over a gallery, opened once and kept. */
  private side(id: string, dataset: ServedDataset): Promise<OpenedSide> {
    const pkg = this.deps.registry.package(id);
    const key = `${id}@${pkg.version}|${dataset.name}@${dataset.version}`;
    let p = this.sides.get(key);
    if (!p) {
      p = this.open(id, dataset);
      p.catch(() => this.sides.delete(key));
      this.sides.set(key, p);
    }
    return p;
  }

  private async open(id: string, dataset: ServedDataset): Promise<OpenedSide> {
    if (this.closed) throw new Error('the server is shutting down');
    const pkg = this.deps.registry.package(id);
    if (pkg.problem) throw new Error(`model ${id} cannot be loaded: ${pkg.problem}`);
    const encoder: ClipEncoder = await this.deps.runtime.openEncoder(pkg, REFERENCE_THREADS);
    let index: GalleryIndex;
    try {
      index = await this.deps.runtime.openIndex(pkg, encoder, dataset, {
        split: this.deps.split,
        build: this.deps.settings.build || this.deps.buildOnDemand,
        onProgress: (pr) => {
          if (pr.done === pr.total) this.log(`alarm: ${id} × ${dataset.name}: ${pr.phase} ${pr.done}/${pr.total}`);
        },
      });
    } catch (err) {
      await encoder.close().catch(() => undefined);
      throw err;
    }
    const batcher = new QueryBatcher(encoder);
    const texts = this.deps.registry.texts;
    return {
      model: id,
      pkg,
      index,
      encoder: withTextCache(this.deps.ws, id, encoder),
      gallery: galleryOf(index),
      queryVector: (text: string) => texts.vector(pkg, text, (t) => batcher.encode(t)),
      async close() {
        await index.close?.();
        await encoder.close();
      },
    };
  }

  private log(line: string): void {
    this.deps.log?.(`[alarm] ${line}`);
  }
}

/** The reference's encoding of a query and its own top-K scores (null: no reference). */
function referenceQuery(p: Prepared, text: string): Promise<{ vector: Float32Array; own: number[] | null }> | null {
  if (!p.reference) return null;
  const out = p.reference.queryVector(text).then((vector) => ({ vector, own: referenceOwnScores(p.state, vector) }));
  out.catch(() => undefined);
  return out;
}

/** A server gallery index as the alarm reads it. */
function galleryOf(index: GalleryIndex): AlarmSide['gallery'] {
  const vector = index.vector;
  return {
    ids: index.ids,
    size: index.search.size,
    dim: index.search.dim,
    vector: (row) => {
      if (!vector) throw new Error(`the index of ${index.info.model} over ${index.info.dataset} keeps no vectors`);
      return vector(row);
    },
    search: (q, k) => index.search.search(q, k),
  };
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? '').slice(0, 300);
}
