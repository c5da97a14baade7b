import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrate } from './schema.js';

/** An open catalog. Only the modules of core/catalog/ run SQL on it; everything else calls them. */
export type Catalog = Database.Database;

/** Opens (creating and migrating) the catalog at `path`. */
export function openCatalog(path: string): Catalog {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** Parses a JSON column, or gives the text back when it is not JSON (rows written by hand, old rows). */
export function parseJsonColumn(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * A `WHERE column = ? AND …` clause (empty when no column is set) over the `columns` that `filter`
 * sets, with its arguments. The names come from the caller's fixed list, never from the filter's keys.
 */
export function whereEqual<K extends string>(filter: Partial<Record<K, string>>, columns: readonly K[]): { sql: string; args: string[] } {
  const set = columns.filter((c) => filter[c] !== undefined);
  return { sql: set.length ? `WHERE ${set.map((c) => `${c} = ?`).join(' AND ')}` : '', args: set.map((c) => filter[c] as string) };
}
