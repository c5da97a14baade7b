import { nowIso, type Catalog } from './connection.js';
import { replaceExperimentMetrics, type MetricRecord } from './metrics-table.js';

/** The `experiments` table: one row per study, its status and, when done, its report. */
export type ExperimentStatus = 'running' | 'partial' | 'failed' | 'done';

/** Records that study `id` (spec file `path`) runs now, creating its row or updating it. */
export function markExperimentRunning(db: Catalog, study: { id: string; path: string; specSha256: string }): void {
  const now = nowIso();
  db.prepare(
    `INSERT INTO experiments (id, path, spec_sha256, status, report, created_at, updated_at) VALUES (?, ?, ?, 'running', NULL, ?, ?)
     ON CONFLICT(id) DO UPDATE SET path = excluded.path, spec_sha256 = excluded.spec_sha256, status = 'running', updated_at = excluded.updated_at`,
  ).run(study.id, study.path, study.specSha256, now, now);
}

export function setExperimentStatus(db: Catalog, id: string, status: Exclude<ExperimentStatus, 'running' | 'done'>): void {
  db.prepare(`UPDATE experiments SET status = ?, updated_at = ? WHERE id = ?`).run(status, nowIso(), id);
}

/** The recorded status of study `id`, or null when it never ran. */
export function experimentStatus(db: Catalog, id: string): ExperimentStatus | null {
  const row = db.prepare('SELECT status FROM experiments WHERE id = ?').get(id) as { status: ExperimentStatus } | undefined;
  return row?.status ?? null;
}

/** Marks study `id` failed if it is still recorded as running (its process died). */
export function failRunningExperiment(db: Catalog, id: string): void {
  db.prepare(`UPDATE experiments SET status = 'failed', updated_at = ? WHERE id = ? AND status = 'running'`).run(nowIso(), id);
}

/** Marks study `id` done with its report, and replaces its metrics with `metrics`, in one transaction. */
export function recordExperimentReport(db: Catalog, id: string, report: unknown, metrics: MetricRecord[]): void {
  const now = nowIso();
  db.transaction(() => {
    db.prepare(`UPDATE experiments SET status = 'done', report = ?, updated_at = ? WHERE id = ?`).run(JSON.stringify(report), now, id);
    replaceExperimentMetrics(db, id, metrics, now);
  })();
}
