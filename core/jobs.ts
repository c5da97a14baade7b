import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { failRunningExperiment, insertRunningJob, markJobDone, markJobFailed, runningJobs, setJobProgress, type Catalog, type JobRow, type JobType } from './catalog.js';

export { listJobs, type JobRow, type JobType } from './catalog.js';

/**
 * Long work (training, index builds, studies) is recorded in the catalog's `jobs` table while it
 * runs: its type, target, state, the pid of the process doing it, its parameters and progress.
 * A process killed with SIGKILL (or a machine that lost power) cannot mark its own job, so every
 * start-up that may run jobs (`serve`, `train`, `index`, and every new job) calls
 * `reapDeadJobs`: a `running` job whose process is gone becomes `failed`, with a message that
 * says how to go on. Nothing is lost by that: artefacts are written to a temp folder and renamed
 * into place only when whole, so a dead job leaves at most an ignored temp folder.
 */

/**
 * What identifies this process beyond its pid (pids are reused, within containers at once):
 * the host name and the process's start time in clock ticks since boot (Linux /proc), when known.
 */
export function processIdentity(pid = process.pid): { host: string; pidStart: string | null } {
  return { host: hostname(), pidStart: processStartTime(pid) };
}

function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name (field 2) may hold spaces, so count after its ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether `pid` runs the process that recorded `identity` (on this host). */
export function processAlive(pid: number, identity?: { host?: string; pidStart?: string | null }): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (identity?.pidStart) {
    const now = processStartTime(pid);
    if (now !== null && now !== identity.pidStart) return false; // the pid was reused
  }
  return true;
}

/** How to go on after a job of `type` died. */
export function resumeHint(type: JobType, target: string): string {
  switch (type) {
    case 'train':
      return `rerun the same \`poisonlens train … --name ${target}\` command: it resumes from the run's last checkpoint (workspace/runs/${target}/)`;
    case 'index':
      return 'rerun `poisonlens index` (or activate the model in the server) to build the index again; no partial index is ever used';
    case 'experiment':
      return 'rerun `poisonlens experiment FILE`: finished steps are reused and the rest run';
    default:
      return 'rerun the command that started it';
  }
}

export interface Job {
  readonly id: number;
  /** Records progress (throttled: at most one write per `minIntervalMs`, except `force`). */
  progress(value: Record<string, unknown>, force?: boolean): void;
  done(progress?: Record<string, unknown>): void;
  fail(err: unknown): void;
}

/**
 * Records a running job of this process and returns its handle. Dead jobs of earlier processes
 * are reaped first. Catalog errors while recording progress never fail the job itself.
 */
export function startJob(db: Catalog, type: JobType, target: string, params: Record<string, unknown>, opts: { minIntervalMs?: number } = {}): Job {
  reapDeadJobs(db);
  const minInterval = opts.minIntervalMs ?? 1000;
  const identity = processIdentity();
  const id = insertRunningJob(db, { type, target, pid: process.pid, params: { ...params, process: identity } });
  let last = 0;
  let finished = false;
  const safely = (f: () => void) => {
    try {
      f();
    } catch {
      /* a busy or closed catalog must not break the work itself */
    }
  };
  return {
    id,
    progress(value, force = false) {
      if (finished) return;
      const now = Date.now();
      if (!force && now - last < minInterval) return;
      last = now;
      safely(() => setJobProgress(db, id, value));
    },
    done(progress) {
      if (finished) return;
      finished = true;
      safely(() => markJobDone(db, id, progress));
    },
    fail(err) {
      if (finished) return;
      finished = true;
      const message = err instanceof Error ? err.message : String(err);
      safely(() => markJobFailed(db, id, message.slice(0, 2000)));
    },
  };
}

/**
 * Marks `running` jobs whose process is gone as failed (with how to resume), and a study that
 * was running in such a job as failed. Jobs recorded on another host are left alone. Returns
 * the jobs it marked.
 */
export function reapDeadJobs(db: Catalog): JobRow[] {
  const here = hostname();
  const running = runningJobs(db);
  const reaped: JobRow[] = [];
  for (const job of running) {
    let identity: { host?: string; pidStart?: string | null } | undefined;
    try {
      const p = JSON.parse(job.params) as { process?: { host?: string; pidStart?: string | null } };
      identity = p?.process;
    } catch {
      identity = undefined;
    }
    if (identity?.host && identity.host !== here) continue;
    if (job.pid !== null && job.pid === process.pid && (!identity?.pidStart || identity.pidStart === processStartTime(process.pid))) continue;
    if (job.pid !== null && job.pid !== process.pid && processAlive(job.pid, identity)) continue;
    const error = `the process (pid ${job.pid ?? '?'}) died while it ran this job (killed or crashed); ${resumeHint(job.type, job.target)}`;
    if (!markJobFailed(db, job.id, error, { onlyIfRunning: true })) continue; // another process reaped it first
    if (job.type === 'experiment') failRunningExperiment(db, job.target);
    reaped.push({ ...job, state: 'failed', error });
  }
  return reaped;
}
