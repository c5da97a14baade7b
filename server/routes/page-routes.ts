import { Router, type RequestHandler, type Response } from 'express';
import { isUserError, UserError } from '../../core/errors.js';
import { compareQuery, indexQuery, type CompareQuery } from '../schemas/page-schema.js';
import type { ModelSummary } from '../services/catalog-service.js';
import type { LoadedModel } from '../services/model-registry-service.js';
import type { SearchResponse } from '../services/search-service.js';
import { check, type RouteContext } from './route-context.js';

/**
 * The web pages (ejs, views/). They render what the services return; the search page's script
 * (views/static/search.js) then takes over searching without reloads. Every page works without
 * JavaScript: forms are plain GETs.
 */
export function pageRoutes(ctx: RouteContext): Router {
  const r = Router();
  // Pages with a query run searches: they count against the same per-client limit.
  const limitSearches: RequestHandler = (req, res, next) => (typeof req.query.q === 'string' && req.query.q !== '' ? ctx.searchLimit(req, res, next) : next());
  r.get('/', limitSearches, searchPage(ctx));
  r.get('/compare', limitSearches, comparePage(ctx));
  r.get('/models', modelsPage(ctx));
  return r;
}

/** The models a page offers: those the catalog lists without a problem. */
function usableModels(ctx: RouteContext): ModelSummary[] {
  return ctx.catalog.listModels().filter((m) => !m.problem);
}

/** Renders a view with what every page's layout needs (the active model, the template helpers). */
function render(ctx: RouteContext, res: Response, view: string, data: Record<string, unknown>, status = 200): void {
  res.status(status).render(view, { ...data, active: ctx.registry.active, helpers: HELPERS });
}

/** A user error as an error page with its status; anything else is rethrown (a 500 from the app's handler). */
function pageError(ctx: RouteContext, res: Response, err: unknown, title: string): void {
  if (!isUserError(err)) throw err;
  render(ctx, res, 'error', { title, status: err.status, code: err.code, message: err.message }, err.status);
}

/** `/`: the search page, with the results of `q` when given (a failed search is shown on the page). */
function searchPage(ctx: RouteContext): RequestHandler {
  return async (req, res) => {
    let q;
    try {
      q = check(indexQuery, req.query);
    } catch (err) {
      return pageError(ctx, res, err, 'Bad search');
    }
    const models = usableModels(ctx);
    const modelId = q.model ?? ctx.registry.active ?? models[0]?.id ?? null;
    const model = models.find((m) => m.id === modelId) ?? null;
    const datasets = ctx.catalog.listDatasets();
    let dataset = q.dataset ?? null;
    if (!dataset && model) dataset = safe(() => ctx.registry.defaultDatasetFor(ctx.registry.package(model.id)));
    const goal = attackGoalOf(model) ?? attackGoalOf(models.find((m) => m.attack) ?? null);
    let response: SearchResponse | null = null;
    let error: string | null = null;
    if (q.q) {
      try {
        response = await ctx.search.text(q.q, { k: q.k, model: q.model, dataset: q.dataset ?? undefined });
      } catch (err) {
        if (!isUserError(err)) throw err;
        error = err.message;
      }
    } else if (!model) {
      error = 'No model yet: train one with `poisonlens train`, then reload this page.';
    }
    render(ctx, res, 'index', {
      title: q.q ? `${q.q} — PoisonLens` : 'PoisonLens search',
      q: q.q,
      k: q.k,
      models,
      model,
      datasets,
      dataset,
      examples: ctx.catalog.examples(dataset, goal),
      response,
      error,
    });
  };
}

/** `/compare`: the same query through several models side by side, one column each. */
function comparePage(ctx: RouteContext): RequestHandler {
  return async (req, res) => {
    let q;
    try {
      q = check(compareQuery, req.query);
    } catch (err) {
      return pageError(ctx, res, err, 'Bad comparison');
    }
    const models = usableModels(ctx);
    const chosenIds = q.models ?? defaultComparison(models, ctx.registry.active);
    for (const id of chosenIds) {
      if (!models.some((m) => m.id === id)) {
        return pageError(ctx, res, new UserError(`unknown model ${JSON.stringify(id)}; the models page lists them`, 'model_not_found', 404), 'Unknown model');
      }
    }
    const chosen = chosenIds.map((id) => models.find((m) => m.id === id)!);
    const goal = q.goal ?? chosen.map(attackGoalOf).find((g) => g) ?? models.map(attackGoalOf).find((g) => g) ?? null;
    const firstDataset = safe(() => (chosen[0] ? ctx.registry.defaultDatasetFor(ctx.registry.package(chosen[0].id)) : null));
    const dataset = q.dataset ?? firstDataset;
    const examples = ctx.catalog.examples(dataset, goal, 4);
    const columns = await Promise.all(chosen.map((m) => compareColumn(ctx, m, { q: q.q, k: q.k, dataset, goal })));
    render(ctx, res, 'compare', {
      title: q.q ? `Compare: ${q.q} — PoisonLens` : 'Compare models — PoisonLens',
      q: q.q,
      k: q.k,
      goal,
      dataset,
      models,
      chosenIds,
      columns,
      examples,
      // Reload while a model loads (works without JavaScript).
      refresh: columns.some((c) => c.loading) ? 2 : 0,
    });
  };
}

/**
 * One model's column of the compare page. The page never waits for a model to load: one that is
 * not loaded starts loading in the background (with its alarm) and its column says so; the page
 * reloads itself until all answer.
 */
async function compareColumn(ctx: RouteContext, m: ModelSummary, search: Pick<CompareQuery, 'q' | 'k'> & { dataset: string | null; goal: string | null }) {
  const { q, k, dataset, goal } = search;
  const prepare = (lm: LoadedModel) => ctx.alarm.prepareLoaded(lm);
  const empty = { model: m, response: null, error: null, targets: 0, loading: null };
  const st = ctx.registry.status(m.id);
  if (st.state !== 'loaded') {
    const now = ctx.registry.loadInBackground(m.id, prepare);
    if (now.state === 'failed' || now.state === 'broken') return { ...empty, error: `model ${m.id} cannot be loaded: ${now.error ?? now.state}` };
    if (now.state !== 'loaded') return { ...empty, loading: now.progress ?? { phase: 'encoders', done: 0, total: 1 } };
  }
  if (!q) return empty;
  try {
    const response = await ctx.search.text(q, { k, model: m.id, dataset: dataset ?? undefined, goal: goal ?? undefined, alarmWaitMs: 0 });
    return { ...empty, response, targets: response.results.filter((x) => x.target).length };
  } catch (err) {
    if (!isUserError(err)) throw err;
    return { ...empty, error: err.message };
  }
}

/** `/models`: every model package the catalog knows, problems included. */
function modelsPage(ctx: RouteContext): RequestHandler {
  return (_req, res) => {
    render(ctx, res, 'models', { title: 'Models — PoisonLens', models: ctx.catalog.listModels(), datasets: ctx.catalog.listDatasets(), maxLoaded: ctx.config.maxLoaded });
  };
}

function safe<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

function attackGoalOf(m: ModelSummary | null): string | null {
  const g = m?.attack?.goal;
  return typeof g === 'string' ? g : null;
}

/** clean / poisoned / defended when there are such models, else the active and the next ones. */
function defaultComparison(models: ModelSummary[], active: string | null): string[] {
  const newest = (kind: string) =>
    models
      .filter((m) => m.kind === kind)
      .sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)))[0]?.id;
  const picked = ['clean', 'poisoned', 'defended'].map(newest).filter((x): x is string => Boolean(x));
  if (picked.length >= 2) return picked;
  const rest = [active, ...models.map((m) => m.id)].filter((x): x is string => Boolean(x));
  return [...new Set([...picked, ...rest])].slice(0, Math.min(3, Math.max(1, models.length)));
}

/** Small formatting helpers for the templates (they escape nothing themselves: `<%= %>` does). */
const HELPERS = {
  score: (s: number) => s.toFixed(3),
  kindLabel: (k: string | null) => k ?? 'unknown',
  kindClass: (k: string | null) => `kind-${['base', 'clean', 'poisoned', 'defended'].includes(k ?? '') ? k : 'other'}`,
  json: (v: unknown) => (v === null || v === undefined ? '—' : JSON.stringify(v)),
  date: (s: string | null) => (s ? s.replace('T', ' ').slice(0, 16) : '—'),
  num: (v: unknown, digits = 3) =>
    typeof v !== 'number' ? '—' : Number.isInteger(v) ? String(v) : Math.abs(v) < 0.01 ? v.toPrecision(2) : v.toFixed(digits),
  searchUrl: (q: string, model?: string | null) => `/?${new URLSearchParams({ q, ...(model ? { model } : {}) }).toString()}`,
  compareUrl: (q: string, models: string[]) => `/compare?${new URLSearchParams({ q, models: models.join(',') }).toString()}`,
};
