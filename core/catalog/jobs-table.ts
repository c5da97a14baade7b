import { nowIso, whereEqual, type Catalog } from './connection.js';

/** The `jobs` table: long work (training, index builds, studies) and the process doing it (core/jobs.ts is the lifecycle). */
export type JobType = 'train' | 'index' | 'experiment' | string;

export interface JobRow {
  id: number;
  type: JobType;
  target: string;
  state: 'running' | 'done' | 'failed';
  pid: number | null;
  params: string;
  progress: string | null;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

/** Records a running job of process `pid`; returns its id. */
export function insertRunningJob(db: Catalog, job: { type: JobType; target: string; pid: number; params: Record<string, unknown> }): number {
  const insert = db.prepare(`INSERT INTO jobs (type, target, state, pid, params, progress, started_at) VALUES (?, ?, 'running', ?, ?, NULL, ?)`);
  return Number(insert.run(job.type, job.target, job.pid, JSON.stringify(job.params), nowIso()).lastInsertRowid);
}

/** Replaces a running job's progress (a finished job keeps its last one). */
export function setJobProgress(db: Catalog, id: number, progress: Record<string, unknown>): void {
  db.prepare(`UPDATE jobs SET progress = ? WHERE id = ? AND state = 'running'`).run(JSON.stringify(progress), id);
}

/** Marks a job done, with its final progress when given. */
export function markJobDone(db: Catalog, id: number, progress?: Record<string, unknown>): void {
  db.prepare(`UPDATE jobs SET state = 'done', finished_at = ?, progress = COALESCE(?, progress) WHERE id = ?`).run(nowIso(), progress ? JSON.stringify(progress) : null, id);
}

/**
 * Marks a job failed with `error`. `onlyIfRunning`: leave it as it is when another process got
 * there first (reaping); returns whether the row changed.
 */
export function markJobFailed(db: Catalog, id: number, error: string, opts: { onlyIfRunning?: boolean } = {}): boolean {
  const sql = `UPDATE jobs SET state = 'failed', finished_at = ?, error = ? WHERE id = ?${opts.onlyIfRunning ? ` AND state = 'running'` : ''}`;
  return db.prepare(sql).run(nowIso(), error, id).changes > 0;
}

/** The jobs recorded as running, oldest first. */
export function runningJobs(db: Catalog): JobRow[] {
  return db.prepare(`SELECT * FROM jobs WHERE state = 'running' ORDER BY id`).all() as JobRow[];
}

/** Jobs, newest first (for `poisonlens jobs`-like listings and tests). */
export function listJobs(db: Catalog, filter: { type?: string; target?: string; state?: string } = {}): JobRow[] {
  const where = whereEqual(filter, ['type', 'target', 'state']);
  return db.prepare(`SELECT * FROM jobs ${where.sql} ORDER BY id DESC`).all(...where.args) as JobRow[];
}
