import type { DatasetRepository } from '../repositories/dataset-repository.js';
import type { ModelPackage } from '../repositories/model-repository.js';
import { modelMetrics, type Catalog, type MetricRow } from '../../core/catalog.js';
import type { ModelRegistry, ModelStatus } from './model-registry-service.js';
import type { ModelRepository } from '../repositories/model-repository.js';
import { attackGoals } from '../repositories/model-repository.js';

/** What GET /api/models and the models page show of a model: provenance, metrics, state. */
export interface ModelSummary {
  id: string;
  name: string;
  kind: string | null;
  arch: string | null;
  embedDim: number | null;
  parent: string | null;
  trainset: { name?: string; sha256?: string } | null;
  attack: Record<string, unknown> | null;
  defence: Record<string, unknown> | null;
  seed: number | null;
  createdAt: string | null;
  trainer: Record<string, unknown> | null;
  metrics: {
    training: Record<string, unknown> | null;
    card: Record<string, unknown> | null;
    evaluations: EvalRow[];
  };
  status: ModelStatus;
  problem?: string;
}

/** An evaluation recorded in the catalog's metrics. */
export type EvalRow = MetricRow;

export interface DatasetInfo {
  name: string;
  source: string;
  counts: Record<string, number>;
  classes: string[];
}

/**
 * Read-side of models and datasets for the API and the pages. Metrics come from three places:
 * model.json, the package's training log, and evaluations recorded in the catalog (optional:
 * the server runs without one).
 */
export class CatalogService {
  constructor(
    private readonly models: ModelRepository,
    private readonly datasets: DatasetRepository,
    private readonly registry: ModelRegistry,
    private readonly catalog?: Catalog,
  ) {}

  listModels(): ModelSummary[] {
    return this.models.list().map((p) => this.summary(p));
  }

  model(id: string): ModelSummary {
    return this.summary(this.registry.package(id));
  }

  summary(p: ModelPackage): ModelSummary {
    const c = p.card;
    const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    const s: ModelSummary = {
      id: p.id,
      name: str(c.name) ?? p.id,
      kind: str(c.kind),
      arch: str(c.arch),
      embedDim: typeof c.embedDim === 'number' ? c.embedDim : null,
      parent: str(c.parent),
      trainset: obj(c.trainset) as ModelSummary['trainset'],
      attack: obj(c.attack),
      defence: obj(c.defence),
      seed: typeof c.seed === 'number' ? c.seed : null,
      createdAt: str(c.createdAt),
      trainer: obj(c.trainer),
      metrics: { training: this.models.trainingMetrics(p), card: obj(c.metrics), evaluations: this.evaluations(p.id) },
      status: this.registry.status(p.id),
    };
    if (p.problem) s.problem = p.problem;
    return s;
  }

  listDatasets(): DatasetInfo[] {
    return this.datasets.list().map((d) => ({ name: d.name, source: d.source, counts: d.counts, classes: d.classes }));
  }

  /**
   * Example queries for the search page: one test caption per class, the attack's source class
   * first (its captions show the poisoning), at most `n`.
   */
  examples(datasetName: string | null, goal: string | null, n = 6): string[] {
    if (!datasetName || !this.datasets.has(datasetName)) return [];
    let d;
    try {
      d = this.datasets.get(datasetName);
    } catch {
      return [];
    }
    const sources = attackGoals(goal ? { goal } : null).map((g) => g[0]);
    const seen = new Set<string>();
    const out: string[] = [];
    const pick = (label: string | null) => {
      for (const e of d.entries) {
        if (e.split !== 'test' || !e.captions.length || (label !== null && e.label !== label)) continue;
        if (label === null && (e.label === null || seen.has(e.label))) continue;
        const cap = e.captions.reduce((a, b) => (b.length < a.length ? b : a));
        if (e.label) seen.add(e.label);
        if (!out.includes(cap)) out.push(cap);
        return true;
      }
      return false;
    };
    for (const s of sources) pick(s);
    for (let i = 0; out.length < n && i < 50; i++) if (!pick(null)) break;
    return out.slice(0, n);
  }

  private evaluations(model: string): EvalRow[] {
    if (!this.catalog) return [];
    try {
      return modelMetrics(this.catalog, model, 20);
    } catch {
      return [];
    }
  }
}
