import express, { Router, type Request, type RequestHandler } from 'express';
import { knnBody, metadataBody } from '../schemas/clip-schema.js';
import { IMAGE_LIMITS } from '../schemas/search-schema.js';
import { ClipRetrievalService } from '../services/clip-service.js';
import { check, tagModel, type RouteContext } from './route-context.js';

/**
 * clip-retrieval back-end compatibility: its front end (and ClipClient) can use PoisonLens as a
 * back end. Like clip_back.py these routes allow any origin (read-only) and read JSON whatever
 * the Content-Type, since the front end posts JSON as text/plain.
 */
export function clipRoutes(ctx: RouteContext): Router {
  const r = Router();
  const service = new ClipRetrievalService(ctx.registry, ctx.search, ctx.datasets);
  const anyJson = express.json({ type: () => true, limit: Math.ceil(IMAGE_LIMITS.maxBytes * 1.4) + 64 * 1024, strict: true });
  const limit = ctx.searchLimit;
  const cors: RequestHandler = (_req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
    res.setHeader('Access-Control-Max-Age', '600');
    next();
  };
  for (const path of ['/knn-service', '/indices-list', '/metadata']) {
    r.options(path, cors, (_req, res) => {
      res.status(204).end();
    });
  }

  r.get('/indices-list', cors, (_req, res) => {
    res.json(service.indices());
  });

  r.post('/knn-service', cors, limit, anyJson, async (req, res) => {
    const body = check(knnBody, req.body);
    const { model, results } = await service.knn(body, baseUrl(req));
    tagModel(res, model);
    res.json(results);
  });

  r.post('/metadata', cors, limit, anyJson, async (req, res) => {
    const body = check(metadataBody, req.body);
    if (body.ids.length === 0) {
      res.json([]);
      return;
    }
    const { model, results } = await service.metadata(body.ids, body.indice_name, baseUrl(req));
    tagModel(res, model);
    res.json(results);
  });

  return r;
}

/**
 * The origin to prefix image URLs with: clip-retrieval's front end shows `url` as an <img src>
 * from its own origin, so URLs must be absolute. A Host header that is not a plain host[:port]
 * gets relative URLs instead of being echoed.
 */
function baseUrl(req: Request): string {
  const host = req.get('host') ?? '';
  if (!/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/.test(host)) return '';
  return `${req.protocol}://${host}`;
}
