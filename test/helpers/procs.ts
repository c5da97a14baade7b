/**
 * Processes as state the tests can wait on (Linux /proc): the descendants of a process, and
 * whether processes are gone. A test that kills a CLI waits until the engine it started has
 * died too, rather than sleeping and hoping it has.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** State and parent of a process from /proc/PID/stat, or null once it is gone. */
function stat(pid: number): { state: string; ppid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], ppid: Number(rest[1]) };
  } catch {
    return null;
  }
}

/** The live child processes of `pid` (empty where /proc is unavailable). */
export function childPids(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => {
      const s = stat(p);
      return s !== null && s.ppid === pid && s.state !== 'Z';
    });
}

/** Every live process below `pid`: its children, their children, and so on. */
export function descendantPids(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    for (const c of childPids(todo.pop()!)) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

/** Whether the process has exited (gone, or a zombie nobody has reaped yet). */
export function processGone(pid: number): boolean {
  const s = stat(pid);
  return s === null || s.state === 'Z' || s.state === 'X';
}

/** Waits until every process in `pids` has exited; throws after `ms`. */
export async function waitGone(pids: number[], what: string, ms = 30_000): Promise<void> {
  const t0 = performance.now();
  while (!pids.every(processGone)) {
    if (performance.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what} (pids ${pids.filter((p) => !processGone(p)).join(', ')}) to exit`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
