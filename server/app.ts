import express, { type Express, type RequestHandler } from 'express';
import ejs from 'ejs';
import { fileURLToPath } from 'node:url';
import type { Catalog } from '../core/catalog.js';
import type { Workspace } from '../core/workspace.js';
import { indexerEvalBackend } from '../eval/indexer-backend.js';
import { resolveConfig, type AppConfig } from './config.js';
import { errorHandler, notFoundHandler } from './server-errors.js';
import { rateLimit, securityHeaders } from './http/security.js';
import { DatasetRepository } from './repositories/dataset-repository.js';
import { ThumbnailStore } from './repositories/file-repository.js';
import { ModelRepository } from './repositories/model-repository.js';
import type { ModelRuntime } from './repositories/runtime-repository.js';
import { TrainsetRepository } from './repositories/trainset-repository.js';
import { apiRoutes } from './routes/api-routes.js';
import { clipRoutes } from './routes/clip-routes.js';
import type { RouteContext } from './routes/route-context.js';
import { healthRoutes } from './routes/health-routes.js';
import { imageRoutes } from './routes/image-routes.js';
import { pageRoutes } from './routes/page-routes.js';
import { reportRoutes } from './routes/report-routes.js';
import { AlarmService } from './services/alarm-service.js';
import { CatalogService } from './services/catalog-service.js';
import { EvalService } from './services/eval-service.js';
import { Metrics } from './services/metrics-service.js';
import { ModelRegistry, pickDefaultModel } from './services/model-registry-service.js';

export { pickDefaultModel };
import { SearchService } from './services/search-service.js';

export const VIEWS_DIR = fileURLToPath(new URL('../views', import.meta.url));
export const STATIC_DIR = fileURLToPath(new URL('../views/static', import.meta.url));

export interface AppDeps {
  workspace: Workspace;
  /** The model runtime and indexes (repositories/indexer-runtime-repository.ts in production and tests). */
  runtime: ModelRuntime;
  config: Partial<AppConfig> & { adminToken: string };
  /** Optional: evaluation metrics recorded in the catalog are shown with the models. */
  catalog?: Catalog;
  log?: (line: string) => void;
}

export interface PoisonLensServer {
  app: Express;
  config: AppConfig;
  registry: ModelRegistry;
  /**
   * Loads the start-up model (building its index if missing, with progress) and activates it;
   * then, in the background, prepares its alarm and loads the `preload` models.
   */
  ready(): Promise<string | null>;
  /** Resolves with the models preloaded once the background work after `ready()` (preloading, checksums) is done. */
  preloaded(): Promise<string[]>;
  /** Unloads every model (after the HTTP server has stopped accepting). */
  close(): Promise<void>;
}

/**
 * Builds the express app: repositories (files, runtime) → services (registry, search, catalog,
 * metrics) → routes, then the one 404 and the one error handler. Nothing listens here: the CLI
 * (`poisonlens serve`) binds it, tests drive it in-process with supertest.
 */
export function createApp(deps: AppDeps): PoisonLensServer {
  const config = resolveConfig(deps.config);
  const log = deps.log ?? ((line: string) => console.error(line));
  const ws = deps.workspace;
  const models = new ModelRepository(ws.models);
  const datasets = new DatasetRepository(ws);
  const trainsets = new TrainsetRepository(ws);
  const registry = new ModelRegistry({
    models,
    datasets,
    trainsets,
    runtime: deps.runtime,
    config: { maxLoaded: config.maxLoaded, split: config.split, buildOnDemand: config.buildOnDemand, defaultDataset: config.defaultDataset, textCacheSize: config.textCacheSize },
    log,
  });
  registry.setActiveId(config.activeModel ?? pickDefaultModel(models.list()));
  const metrics = new Metrics();
  const alarm = new AlarmService({
    ws,
    registry,
    datasets,
    runtime: deps.runtime,
    settings: config.alarm,
    split: config.split,
    buildOnDemand: config.buildOnDemand,
    log,
    onReport: (model, r, seconds) => metrics.alarm(model, r.state, r.flagged, seconds),
  });
  const search = new SearchService(registry, datasets, trainsets, alarm);
  const catalog = new CatalogService(models, datasets, registry, deps.catalog);
  const thumbs = new ThumbnailStore(ws.cache, config.thumbSize);
  const evals = new EvalService(ws, indexerEvalBackend(ws));
  let preloading: Promise<string[]> = Promise.resolve([]);
  const ctx: RouteContext = { config, workspace: ws, registry, search, catalog, evals, metrics, datasets, thumbs, alarm, searchLimit: rateLimit(config.rateLimit) };

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');
  app.set('views', VIEWS_DIR);
  app.set('view engine', 'ejs');
  app.engine('ejs', ejs.renderFile as unknown as Parameters<Express['engine']>[1]);
  app.set('view cache', process.env.POISONLENS_DEV !== '1');

  app.use(securityHeaders());
  app.use(requestMetrics(metrics));
  app.use('/static', express.static(STATIC_DIR, { index: false, dotfiles: 'deny', maxAge: '1h', fallthrough: true }));
  app.use(healthRoutes(ctx));
  app.use(apiRoutes(ctx));
  app.use(clipRoutes(ctx));
  app.use(imageRoutes(ctx));
  app.use(reportRoutes(ctx));
  app.use(pageRoutes(ctx));
  app.use(notFoundHandler());
  app.use(errorHandler({ error: log }));

  return {
    app,
    config,
    registry,
    async ready() {
      const id = registry.active;
      // In the background: the active model's alarm (reference model, word index, calibration),
      // then the other models the compare view will name, one at a time, then every package's
      // checksums (a later hot swap hashes nothing).
      const background = async (first: Promise<unknown>) => {
        registry.startup = 'running';
        try {
          await first;
          const done = await registry.preload(config.preload.filter((x) => x !== id), (m) => alarm.prepareLoaded(m));
          await registry.verifyPackages();
          return done;
        } finally {
          registry.startup = 'done';
        }
      };
      if (!id) {
        preloading = background(Promise.resolve());
        return null;
      }
      await registry.activate(id);
      preloading = background(alarm.warm(id));
      return id;
    },
    preloaded: () => preloading,
    close: async () => {
      await registry.close();
      await alarm.close();
    },
  };
}

/** Counts and times every request by route pattern (never the raw URL) and model. */
function requestMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const t0 = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const path = req.route?.path;
      const route = typeof path === 'string' ? path : req.path.startsWith('/static/') ? '/static' : 'unmatched';
      const model = typeof res.locals.model === 'string' ? res.locals.model : '';
      metrics.observe(route, req.method, res.statusCode, model, seconds);
    });
    next();
  };
}
