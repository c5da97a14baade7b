import { nowIso, parseJsonColumn, whereEqual, type Catalog } from './connection.js';

/** The `metrics` table: evaluation summaries of a model, from a study (`experiment`) or a lone `eval`. */
export interface MetricRecord {
  experiment: string | null;
  model: string;
  dataset: string;
  /** e.g. "attack-eval". */
  kind: string;
  params: Record<string, unknown>;
  value: unknown;
}

/** A metric as read back: its JSON columns parsed. */
export interface MetricRow {
  experiment: string | null;
  dataset: string;
  kind: string;
  params: unknown;
  value: unknown;
  createdAt: string;
}

const INSERT = 'INSERT INTO metrics (experiment, model, dataset, kind, params, value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)';

export function insertMetric(db: Catalog, m: MetricRecord, createdAt = nowIso()): void {
  db.prepare(INSERT).run(m.experiment, m.model, m.dataset, m.kind, JSON.stringify(m.params), JSON.stringify(m.value), createdAt);
}

/** Replaces every metric of study `experiment` with `metrics`, each recorded under `experiment` (call it inside a transaction). */
export function replaceExperimentMetrics(db: Catalog, experiment: string, metrics: MetricRecord[], createdAt = nowIso()): void {
  db.prepare('DELETE FROM metrics WHERE experiment = ?').run(experiment);
  const insert = db.prepare(INSERT);
  for (const m of metrics) insert.run(experiment, m.model, m.dataset, m.kind, JSON.stringify(m.params), JSON.stringify(m.value), createdAt);
}

type StoredMetric = { experiment: string | null; dataset: string; kind: string; params: string; value: string; created_at: string };

function metricRow(r: StoredMetric): MetricRow {
  return { experiment: r.experiment, dataset: r.dataset, kind: r.kind, params: parseJsonColumn(r.params), value: parseJsonColumn(r.value), createdAt: r.created_at };
}

/** The newest `limit` metrics of a model, newest first. */
export function modelMetrics(db: Catalog, model: string, limit = 20): MetricRow[] {
  const rows = db
    .prepare('SELECT experiment, dataset, kind, params, value, created_at FROM metrics WHERE model = ? ORDER BY created_at DESC LIMIT ?')
    .all(model, limit) as StoredMetric[];
  return rows.map(metricRow);
}

/** Metrics of every model, in the order they were recorded, narrowed to a study and/or a kind. */
export function listMetrics(db: Catalog, filter: { experiment?: string; kind?: string } = {}): Array<MetricRow & { model: string }> {
  const where = whereEqual(filter, ['experiment', 'kind']);
  const rows = db
    .prepare(`SELECT model, experiment, dataset, kind, params, value, created_at FROM metrics ${where.sql} ORDER BY rowid`)
    .all(...where.args) as Array<StoredMetric & { model: string }>;
  return rows.map((r) => ({ model: r.model, ...metricRow(r) }));
}
