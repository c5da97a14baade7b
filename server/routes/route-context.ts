import type { Request, RequestHandler, Response } from 'express';
import type { ModelRegistry } from '../services/model-registry-service.js';
import type { SearchService } from '../services/search-service.js';
import type { AlarmService } from '../services/alarm-service.js';
import type { CatalogService } from '../services/catalog-service.js';
import type { EvalService } from '../services/eval-service.js';
import type { Metrics } from '../services/metrics-service.js';
import type { DatasetRepository } from '../repositories/dataset-repository.js';
import type { ThumbnailStore } from '../repositories/file-repository.js';
import type { Check } from '../../core/validate.js';
import type { AppConfig } from '../config.js';
import type { Workspace } from '../../core/workspace.js';

/** Everything the route modules are given (they reach nothing else). */
export interface RouteContext {
  config: AppConfig;
  workspace: Workspace;
  registry: ModelRegistry;
  search: SearchService;
  catalog: CatalogService;
  evals: EvalService;
  metrics: Metrics;
  datasets: DatasetRepository;
  thumbs: ThumbnailStore;
  alarm: AlarmService;
  /** The per-client rate limit shared by every route that runs searches. */
  searchLimit: RequestHandler;
}

/** Validates `value` against a route's schema; a failure is a 400 naming the field. */
export function check<T>(schema: Check<T>, value: unknown): T {
  return schema(value ?? {}, '');
}

/** Names the model a response came from, for the request metrics. */
export function tagModel(res: Response, model: string): void {
  res.locals.model = model;
}

export function clientWantsJson(req: Request): boolean {
  return (req.get('accept') ?? '').includes('application/json');
}
