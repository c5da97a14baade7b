import { Router } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import { worldStatusPath } from '../../core/workspace.js';
import type { RouteContext } from './route-context.js';

/** GET /healthz (liveness plus what is loaded), GET /api/build and GET /metrics (Prometheus text format). */
export function healthRoutes(ctx: RouteContext): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    const loaded = ctx.registry.loadedModels().map((m) => m.id);
    res.setHeader('Cache-Control', 'no-store');
    // startup: the background work after the active model is ready (its alarm, the preloaded models, every package's checksums).
    res.json({ status: 'ok', active: ctx.registry.active, loaded, startup: ctx.registry.startup, uptimeSeconds: Math.round(process.uptime()) });
  });
  // The main job's build progress (written by `poisonlens up`), for the pages' banner.
  r.get('/api/build', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const path = worldStatusPath(ctx.workspace);
    res.json(existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : { state: 'idle', steps: [] });
  });
  r.get('/metrics', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render(ctx.registry));
  });
  return r;
}
