/**
 * The catalog: an SQLite index over the workspace's files with provenance (ARCHITECTURE.md §2).
 * Files stay the source of truth for bulk data; rows point at them.
 *
 * This is the one home of the catalog's SQL: the schema and its migrations, and one module per
 * table under core/catalog/ with typed functions. Every other module calls these.
 */
export { openCatalog, nowIso, type Catalog } from './catalog/connection.js';
export { SCHEMA_VERSION } from './catalog/schema.js';
export * from './catalog/datasets-table.js';
export * from './catalog/trainsets-table.js';
export * from './catalog/models-table.js';
export * from './catalog/index-builds-table.js';
export * from './catalog/experiments-table.js';
export * from './catalog/metrics-table.js';
export * from './catalog/jobs-table.js';
