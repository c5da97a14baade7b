import express, { Router } from 'express';
import type { RouteContext } from './route-context.js';

/**
 * Study reports as the files they were written to (workspace/reports/<id>/…: `poisonlens
 * experiment` writes report.json and report.html, `poisonlens report paper` writes
 * reports/paper/index.html, paper.css and paper.json). The server serves them read-only and never
 * builds them: building needs trainer/, which the server must not import (ARCHITECTURE §1).
 *
 *   GET /reports/<id>/<file>   a written report file (a folder serves its index.html)
 *   GET /experiments/paper     → /reports/paper/ (the paper report)
 */
export function reportRoutes(ctx: RouteContext): Router {
  const r = Router();
  r.get('/experiments/paper', (_req, res) => res.redirect(302, '/reports/paper/'));
  r.use('/reports', express.static(ctx.workspace.reports, { index: ['index.html'], dotfiles: 'deny', redirect: true, fallthrough: true, maxAge: 0 }));
  return r;
}
