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

/**
 * Names of datasets, trainsets, models, studies and reports: they become folder names. The one
 * pattern (the server's request schemas use it too); `isValidName` and `checkName` also refuse '..'.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** NAME_PATTERN in words, for error messages. */
export const NAME_RULE = "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit";

/** Whether `name` is a safe folder name (NAME_PATTERN, no '..'). */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name) && !name.includes('..');
}

/** Names of datasets, trainsets and models become folder names: keep them safe. */
export function checkName(name: unknown, what = 'name'): string {
  if (!isValidName(name)) {
    throw new UserError(`invalid ${what} ${JSON.stringify(name)}: use ${NAME_RULE}`, 'invalid_name');
  }
  return name;
}
