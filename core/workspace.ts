import { resolve, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { UserError } from './errors.js';

/** Where every generated artefact lives (ARCHITECTURE.md §1). */
export interface Workspace {
  root: string;
  datasets: string;
  trainsets: string;
  models: string;
  indexes: string;
  reports: string;
  cache: string;
  catalogPath: string;
}

export function resolveWorkspace(dir?: string): Workspace {
  const root = resolve(dir ?? process.env.POISONLENS_WORKSPACE ?? 'workspace');
  mkdirSync(root, { recursive: true });
  return {
    root,
    datasets: join(root, 'datasets'),
    trainsets: join(root, 'trainsets'),
    models: join(root, 'models'),
    indexes: join(root, 'indexes'),
    reports: join(root, 'reports'),
    cache: join(root, 'cache'),
    catalogPath: join(root, 'catalog.sqlite'),
  };
}

/**
 * The main job's build status (`poisonlens up` writes it; the server's GET /api/build and the
 * pages' banner read it). Here, in core, so that the server finds it without importing trainer/.
 */
export function worldStatusPath(ws: Workspace): string {
  return join(ws.root, 'status', 'world.json');
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Names of datasets, trainsets and models become folder names: keep them safe. */
export function checkName(name: unknown, what = 'name'): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new UserError(
      `invalid ${what} ${JSON.stringify(name)}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      'invalid_name',
    );
  }
  return name;
}
