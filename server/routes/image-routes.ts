import { Router, type Request } from 'express';
import { NotFoundError } from '../../core/errors.js';
import { resolveDatasetFile } from '../repositories/file-repository.js';
import { name } from '../schemas/common-schema.js';
import type { RouteContext } from './route-context.js';

/**
 * GET /images/:dataset/<manifest file> and GET /thumbs/:dataset/<manifest file>. The URL only
 * names an entry of a registered dataset's manifest (repositories/file-repository.ts does the refusing);
 * the raw, undecoded path is what gets checked, so encoded traversal cannot slip through.
 */
export function imageRoutes(ctx: RouteContext): Router {
  const r = Router();
  const sendOptions = { dotfiles: 'allow' as const, maxAge: '1h', headers: { 'Cross-Origin-Resource-Policy': 'cross-origin' } };

  const locate = (req: Request) => {
    const m = /^\/(?:images|thumbs)\/([^/]*)\/(.*)$/.exec(req.path);
    if (!m) throw new NotFoundError('no such image', 'image_not_found');
    let datasetName: string;
    try {
      datasetName = decodeURIComponent(m[1]);
    } catch {
      throw new NotFoundError('no such dataset', 'dataset_not_found');
    }
    name()(datasetName, 'dataset');
    const dataset = ctx.datasets.get(datasetName);
    return { dataset, file: resolveDatasetFile(dataset, m[2]) };
  };

  r.get('/images/:dataset/*rest', (req, res, next) => {
    const { file } = locate(req);
    res.type(file.contentType);
    res.sendFile(file.path, sendOptions, (err) => {
      // A client that went away mid-file is not an error worth a log line.
      if (err && !res.headersSent && !req.destroyed) next(err);
    });
  });

  r.get('/thumbs/:dataset/*rest', async (req, res, next) => {
    const { dataset, file } = locate(req);
    const path = await ctx.thumbs.get(dataset, file);
    res.type('image/webp');
    res.sendFile(path, sendOptions, (err) => {
      // A client that went away mid-file is not an error worth a log line.
      if (err && !res.headersSent && !req.destroyed) next(err);
    });
  });

  return r;
}
