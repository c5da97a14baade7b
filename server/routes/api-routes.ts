import express, { Router } from 'express';
import { UserError } from '../../core/errors.js';
import { UnsupportedMediaError } from '../server-errors.js';
import { boundaryOf, imagePart, parseMultipart } from '../http/multipart.js';
import { requireAdmin } from '../http/security.js';
import { activateBody, modelParams, noQuery } from '../schemas/model-schema.js';
import { evalBody } from '../schemas/eval-schema.js';
import { alarmQuery, IMAGE_LIMITS, searchImageQuery, searchQuery } from '../schemas/search-schema.js';
import { checkImage } from '../services/upload-service.js';
import { check, tagModel, type RouteContext } from './route-context.js';

/** The JSON API (ARCHITECTURE.md §4). Handlers only validate, call a service and answer. */
export function apiRoutes(ctx: RouteContext): Router {
  const r = Router();
  const limit = ctx.searchLimit;
  const json = express.json({ limit: ctx.config.jsonLimit, strict: true });
  // Whatever the Content-Type, the image route reads the raw bytes (and parses multipart itself).
  const raw = express.raw({ type: () => true, limit: IMAGE_LIMITS.maxBytes + 64 * 1024 });

  r.get('/api/search', limit, async (req, res) => {
    const q = check(searchQuery, req.query);
    const out = await ctx.search.text(q.q, q);
    tagModel(res, out.model);
    res.json(out);
  });

  r.post('/api/search/image', limit, raw, async (req, res) => {
    const q = check(searchImageQuery, req.query);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const contentType = req.get('content-type') ?? '';
    const type = contentType.toLowerCase();
    let bytes: Uint8Array = body;
    // The boundary is case-sensitive: read it from the header as sent.
    if (type.startsWith('multipart/form-data')) bytes = imagePart(parseMultipart(body, boundaryOf(contentType))).data;
    else if (type.startsWith('application/json') || type.startsWith('text/') || type.startsWith('application/x-www-form-urlencoded')) {
      throw new UnsupportedMediaError('send the image bytes as the body (Content-Type image/* or application/octet-stream) or as multipart/form-data');
    }
    if (bytes.length === 0) throw new UserError('no image in the request body', 'missing_image');
    const img = await checkImage(bytes, IMAGE_LIMITS);
    const out = await ctx.search.image(img, q);
    tagModel(res, out.model);
    res.json(out);
  });

  r.get('/api/models', (req, res) => {
    check(noQuery, req.query);
    res.json({ active: ctx.registry.active, maxLoaded: ctx.config.maxLoaded, models: ctx.catalog.listModels() });
  });

  r.get('/api/models/:id', (req, res) => {
    const { id } = check(modelParams, req.params);
    res.json(ctx.catalog.model(id));
  });

  r.post('/api/models/active', requireAdmin(ctx.config.adminToken), json, async (req, res) => {
    const { model } = check(activateBody, req.body);
    // The new model's alarm is prepared before the switch: its first searches are scored at once.
    const out = await ctx.registry.activate(model, { prepare: (m) => ctx.alarm.prepareLoaded(m) });
    tagModel(res, out.model);
    res.json({ active: out.model, previous: out.previous, loadMs: out.loadMs, swapMs: out.swapMs });
  });

  // Read-only but heavy: shares the search rate limit and runs one evaluation at a time.
  r.post('/api/eval', limit, json, async (req, res) => {
    const body = check(evalBody, req.body);
    const out = await ctx.evals.run(body);
    tagModel(res, out.model);
    res.json(out);
  });

  // The poisoning alarm of a model (default: the active one) over a gallery: reference, trusted
  // model and the recorded calibration (prepared, and calibrated if need be, on first use).
  r.get('/api/alarm', limit, async (req, res) => {
    const q = check(alarmQuery, req.query);
    const lease = await ctx.registry.acquire(q.model);
    try {
      const dataset = ctx.datasets.get(q.dataset ?? ctx.registry.defaultDatasetFor(lease.model.pkg));
      const index = await ctx.registry.index(lease, dataset);
      tagModel(res, lease.model.id);
      res.json(await ctx.alarm.describe(lease.model, dataset, index));
    } finally {
      lease.release();
    }
  });

  r.get('/api/datasets', (req, res) => {
    check(noQuery, req.query);
    res.json({ datasets: ctx.catalog.listDatasets() });
  });

  return r;
}
