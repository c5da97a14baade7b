/**
 * The tests' one home of raw SQL (issue 22: the catalog's SQL lives in core/catalog/, and the
 * tests' in this file alone): what checks the schema below the table modules' functions (its
 * pragmas, its tables, its foreign keys) or ages a catalog on purpose. Tests that read what a
 * command recorded call the table modules' readers instead.
 */
import type { Catalog } from '../../core/catalog.js';

/** The connection settings and tables that openCatalog sets up. */
export function schemaFacts(db: Catalog): { journalMode: unknown; foreignKeys: unknown; userVersion: unknown; tables: string[] } {
  return {
    journalMode: db.pragma('journal_mode', { simple: true }),
    foreignKeys: db.pragma('foreign_keys', { simple: true }),
    userVersion: db.pragma('user_version', { simple: true }),
    tables: (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name),
  };
}

/** Marks the catalog as written by schema `version` (a newer PoisonLens's, say). */
export function setSchemaVersion(db: Catalog, version: number): void {
  db.pragma(`user_version = ${Number(version)}`);
}

/** Inserts a bare dataset row and an image of it by hand, past replaceDataset: what a foreign key must guard. */
export function insertRawDataset(db: Catalog, name: string): void {
  db.prepare("INSERT INTO datasets VALUES (?, '/x', 'test', 'h', '[]', '{}', '{}', 'now')").run(name);
}

export function insertRawImage(db: Catalog, dataset: string, id: string): void {
  db.prepare("INSERT INTO images VALUES (?, ?, 'images/a.png', 'test', null, '[]', '[]')").run(dataset, id);
}

export function deleteRawDataset(db: Catalog, name: string): void {
  db.prepare('DELETE FROM datasets WHERE name = ?').run(name);
}

/** Rows of the images table, every dataset's. */
export function allImageRows(db: Catalog): number {
  return (db.prepare('SELECT count(*) n FROM images').get() as { n: number }).n;
}
