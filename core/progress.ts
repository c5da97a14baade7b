/**
 * Terminal progress bars on stderr. On a TTY the bar redraws in place; otherwise (CI, logs)
 * it prints a line at most every few seconds, so long jobs show life without flooding logs.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
}

export class Progress {
  private done = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private extra = '';
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  /** Advances by `n` units; `extra` is shown after the bar (e.g. "loss 0.42"). */
  tick(n = 1, extra?: string): void {
    this.update(this.done + n, extra);
  }

  update(done: number, extra?: string): void {
    this.done = done;
    if (extra !== undefined) this.extra = extra;
    const now = Date.now();
    const interval = this.tty ? 100 : 5000;
    // The last line is finish()'s job, so the final state is printed once.
    if (now - this.lastDraw >= interval && done < this.opts.total) {
      this.lastDraw = now;
      this.draw(false);
    }
  }

  finish(extra?: string): void {
    if (extra !== undefined) this.extra = extra;
    this.draw(true);
  }

  private draw(final: boolean): void {
    if (this.opts.quiet) return;
    const { label, total, unit = 'it' } = this.opts;
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const frac = total > 0 ? Math.min(1, this.done / total) : 1;
    const eta = rate > 0 ? (total - this.done) / rate : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line =
      `${label} ${bar} ${this.done}/${total} ${(frac * 100).toFixed(0)}% ` +
      `${formatRate(rate)} ${unit}/s ${final ? `in ${formatSeconds(elapsed)}` : `ETA ${formatSeconds(eta)}`}` +
      (this.extra ? ` ${this.extra}` : '');
    if (this.tty) this.stream.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
    else this.stream.write(line + '\n');
  }
}

function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
