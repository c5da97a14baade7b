import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { UserError } from '../core/errors.js';
import { ENGINE_DIR, VENV_PYTHON } from './setup.js';

/**
 * The boundary to the Python training engine (trainer/engine/poisonlens_engine): argv in,
 * JSON-lines events out on its stdout, exit status at the end. Exit 2 is the caller's mistake
 * (its `error` event's message becomes a UserError), 130 a stop that a rerun resumes, anything
 * else a fault of ours (stderr's tail goes into the Error).
 */
export interface EngineEvent {
  event: string;
  [field: string]: unknown;
}

export interface EngineRunOptions {
  onEvent?: (e: EngineEvent) => void;
  /** Processes: above 1 the engine runs under torchrun (torch.distributed.run) with DDP. */
  nproc?: number;
  /** Forward SIGINT/SIGTERM of this process to the engine (it checkpoints and stops). Default true. */
  forwardSignals?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface EngineResult {
  events: EngineEvent[];
  done: EngineEvent;
}

/**
 * The engine's command line. With `nproc` > 1 it is torchrun (`python -m torch.distributed.run
 * --standalone --nproc-per-node N -m poisonlens_engine.main …`, from the venv): one process per
 * rank, gloo on the CPU, NCCL on GPUs; only rank 0 writes events, checkpoints and the package.
 */
export function engineCommand(args: string[], nproc = 1): { command: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv } {
  const launch = nproc > 1 ? ['-m', 'torch.distributed.run', '--standalone', `--nproc-per-node=${nproc}`] : [];
  return {
    command: VENV_PYTHON,
    args: [...launch, '-m', 'poisonlens_engine.main', ...args],
    cwd: ENGINE_DIR,
    env: {
      ...process.env,
      PYTHONPATH: ENGINE_DIR + (process.env.PYTHONPATH ? `:${process.env.PYTHONPATH}` : ''),
      PYTHONUNBUFFERED: '1',
      // Waiting OpenMP threads sleep instead of spinning: 4x the samples/s on 2 shared cores (main.py).
      OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE',
      // The engine dies with this process (PR_SET_PDEATHSIG): a killed CLI leaves no orphan.
      POISONLENS_ENGINE_PARENT_WATCH: '1',
    },
  };
}

export function runEngine(args: string[], opts: EngineRunOptions = {}): Promise<EngineResult> {
  if (!existsSync(VENV_PYTHON)) {
    throw new UserError('the Python training engine is not set up: run `poisonlens setup` first', 'engine_missing');
  }
  const nproc = opts.nproc ?? 1;
  const cmd = engineCommand(args, nproc);
  const child = spawn(cmd.command, cmd.args, { cwd: cmd.cwd, env: { ...cmd.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: EngineEvent[] = [];
  const stderrTail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderrTail.push(chunk);
    while (stderrTail.length > 200) stderrTail.shift();
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (!line.startsWith('{')) return;
    let e: EngineEvent;
    try {
      e = JSON.parse(line) as EngineEvent;
    } catch {
      return;
    }
    events.push(e);
    opts.onEvent?.(e);
  });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
  const handlers: Array<[NodeJS.Signals, () => void]> = (opts.forwardSignals ?? true)
    ? [['SIGINT', forward('SIGINT')], ['SIGTERM', forward('SIGTERM')]]
    : [];
  for (const [s, h] of handlers) process.on(s, h);

  return new Promise((resolve, reject) => {
    const linesClosed = new Promise<void>((r) => lines.once('close', () => r()));
    child.once('error', (err) => reject(new Error(`could not start the training engine (${cmd.command}): ${err.message}`)));
    child.once('close', async (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      await linesClosed;
      const last = [...events].reverse().find((e) => e.event === 'error' || e.event === 'stopped' || e.event === 'done');
      if (code === 0 && last?.event === 'done') return resolve({ events, done: last });
      // Under torchrun a failed rank makes torchrun exit 1 whatever the rank's own status was:
      // rank 0's last event tells the caller's mistake (any code but engine_failed) or a stop.
      const viaTorchrun = nproc > 1 && code !== 0;
      if ((code === 2 || (viaTorchrun && last?.code !== 'engine_failed')) && last?.event === 'error') {
        return reject(new UserError(String(last.message), String(last.code ?? 'engine_input')));
      }
      if ((code === 130 || viaTorchrun) && last?.event === 'stopped') return reject(new UserError(String(last.message), 'train_stopped'));
      const tail = stderrTail.join('').trim().split('\n').slice(-15).join('\n');
      reject(new Error(`the training engine failed (${signal ? `signal ${signal}` : `exit ${code}`})` +
        (last?.event === 'error' ? `: ${String(last.message)}` : '') + (tail ? `\n${tail}` : '')));
    });
  });
}

/** What the engine makes of a set of flags (`--print-config`): the config a run records in model.json's trainer.config, and the kind its model gets. */
export interface EngineConfig {
  config: Record<string, unknown>;
  /** null when it depends on a training set the flags do not name. */
  kind: string | null;
}

/**
 * Asks the engine how it resolves `args` (recipe defaults applied, the length rule, the kind)
 * without training: the engine is the authority on its defaults, so callers ask rather than
 * restate them. Torch is not loaded; a bad flag is a UserError as from a run.
 */
export function engineConfig(args: string[]): EngineConfig {
  if (!existsSync(VENV_PYTHON)) throw new UserError('the Python training engine is not set up: run `poisonlens setup` first', 'engine_missing');
  const cmd = engineCommand([...args, '--print-config']);
  const r = spawnSync(cmd.command, cmd.args, { cwd: cmd.cwd, env: { ...cmd.env, POISONLENS_ENGINE_PARENT_WATCH: '0' }, encoding: 'utf8' });
  const events = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as EngineEvent);
  const error = events.find((e) => e.event === 'error');
  if (r.status === 2 && error) throw new UserError(String(error.message), String(error.code ?? 'engine_input'));
  const config = events.find((e) => e.event === 'config');
  if (r.status !== 0 || !config) throw new Error(`the training engine failed to print its config (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join('\n')}`);
  return { config: config.config as Record<string, unknown>, kind: (config.kind as string | null) ?? null };
}
