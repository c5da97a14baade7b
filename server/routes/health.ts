import { Router } from 'express';
import type { RouteContext } from './context.js';

/** GET /healthz (liveness plus what is loaded) and GET /metrics (Prometheus text format). */
export function healthRoutes(ctx: RouteContext): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    const loaded = ctx.registry.loadedModels().map((m) => m.id);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok', active: ctx.registry.active, loaded, uptimeSeconds: Math.round(process.uptime()) });
  });
  r.get('/metrics', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render(ctx.registry));
  });
  return r;
}
