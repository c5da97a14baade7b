import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { openCatalog } from '../core/catalog.js';
import { isUserError, NotFoundError, UserError } from '../core/errors.js';
import { removeStaleTempDirs } from '../core/fsutil.js';
import { resumeHint, startJob } from '../core/jobs.js';
import { Progress, formatSeconds } from '../core/progress.js';
import { checkName, type Workspace } from '../core/workspace.js';
import { trainsetDir } from '../data/trainset.js';
import { modelDir, readModelPackage, type ModelPackage } from '../indexer/package.js';
import { engineConfig, runEngine, type EngineConfig, type EngineEvent } from './engine.js';
import { registerModel } from './models.js';
import { checkExclusive, DEVICES, settingsEngineArgs, type Device, type TrainingSettings } from './training-settings.js';

// The settings' choices and types, for callers of trainModel (declared in training-settings.ts).
export { DEVICES, FREEZE_MODES, PRECISIONS, type Device, type FreezeMode, type Precision } from './training-settings.js';

/** `poisonlens train` options: the training settings (training-settings.ts) and what to train. */
export interface TrainOptions extends TrainingSettings {
  trainset: string;
  /** Model name = id = package folder name. */
  name: string;
  /** Fine-tune from a model id of the workspace, a package folder or a checkpoint.pt. */
  from?: string;
  defence?: Record<string, unknown>;
  /**
   * model.json fields the caller records over the engine's (the engine's --card): e.g. a defence's
   * parent, inherited attack and defence; in `defence`, lr and batch given as null are the run's.
   */
  card?: Record<string, unknown>;
  overwrite?: boolean;
  /** Further engine flags, passed as they are (e.g. --reference-out FILE in tests). */
  engineArgs?: string[];
  /** Record the package in the catalog (default true). */
  register?: boolean;
  quiet?: boolean;
  onEvent?: (e: EngineEvent) => void;
}

/**
 * Where trainings run when the caller does not say: POISONLENS_DEVICE and POISONLENS_NPROC (set by
 * `experiment`/`up --device/--nproc`, or in the environment of a GPU box), else the engine's
 * default (auto, one process).
 */
export function deviceDefaults(env: NodeJS.ProcessEnv = process.env): { device?: Device; nproc?: number } {
  const out: { device?: Device; nproc?: number } = {};
  const d = env.POISONLENS_DEVICE;
  if (d !== undefined && d !== '') {
    if (!(DEVICES as readonly string[]).includes(d)) throw new UserError(`POISONLENS_DEVICE must be one of ${DEVICES.join(', ')}, got ${JSON.stringify(d)}`, 'bad_flags');
    out.device = d as Device;
  }
  const n = env.POISONLENS_NPROC;
  if (n !== undefined && n !== '') {
    const v = Number(n);
    if (!Number.isInteger(v) || v < 1 || v > 1024) throw new UserError(`POISONLENS_NPROC must be a whole number ≥ 1, got ${JSON.stringify(n)}`, 'bad_flags');
    out.nproc = v;
  }
  return out;
}

export function runDir(ws: Workspace, name: string): string {
  return join(ws.root, 'runs', checkName(name, 'model name'));
}

/** A --from value: a model id of the workspace, else a path to a package folder or checkpoint. */
export function resolveFrom(ws: Workspace, from: string): string {
  const looksLikePath = from.includes('/') || from.endsWith('.pt') || from.startsWith('.');
  if (!looksLikePath) {
    const dir = modelDir(ws, from);
    if (!existsSync(join(dir, 'model.json'))) throw new NotFoundError(`unknown model ${JSON.stringify(from)} (no package at ${dir})`, 'model_not_found');
    if (!existsSync(join(dir, 'checkpoint.pt'))) throw new UserError(`model ${from} has no checkpoint.pt to fine-tune from`, 'bad_model');
    return dir;
  }
  const p = isAbsolute(from) ? from : resolve(from);
  if (!existsSync(p)) throw new NotFoundError(`--from ${from}: no such package or checkpoint`, 'model_not_found');
  if (statSync(p).isDirectory() && !existsSync(join(p, 'checkpoint.pt'))) throw new UserError(`--from ${from}: no checkpoint.pt in that folder`, 'bad_model');
  return p;
}

/** The engine's argv for training `o`. */
export function engineArgs(ws: Workspace, o: TrainOptions): string[] {
  checkName(o.name, 'model name');
  const tdir = existingTrainsetDir(ws, o.trainset);
  if (o.from && (o.arch || o.pretrained)) throw new UserError('give --from or --arch/--pretrained, not both', 'bad_flags');
  if (o.pretrained && !o.arch) throw new UserError('--pretrained needs --arch', 'bad_flags');
  checkExclusive(o);
  const out = modelDir(ws, o.name);
  if (existsSync(out) && !o.overwrite) throw new UserError(`model ${o.name} already exists (${out}); pick another --name or pass --overwrite`, 'model_exists');
  const a = ['--trainset', tdir, '--out', out, '--run-dir', runDir(ws, o.name), '--cache-dir', ws.cache, '--name', o.name, '--id', o.name];
  a.push(...startAndSettingArgs(ws, o));
  if (o.defence) a.push('--defence', JSON.stringify(o.defence));
  if (o.card) a.push('--card', JSON.stringify(o.card));
  if (o.overwrite) a.push('--overwrite');
  a.push(...(o.engineArgs ?? []));
  return a;
}

/** --from (resolved to a package folder or checkpoint) and the settings' flags, device defaults applied. */
function startAndSettingArgs(ws: Workspace, o: TrainingSettings & { from?: string }): string[] {
  return [...(o.from ? ['--from', resolveFrom(ws, o.from)] : []), ...settingsEngineArgs({ ...o, device: o.device ?? deviceDefaults().device })];
}

function existingTrainsetDir(ws: Workspace, trainset: string): string {
  const tdir = trainsetDir(ws, trainset);
  if (!existsSync(join(tdir, 'trainset.json'))) throw new NotFoundError(`unknown training set ${JSON.stringify(trainset)} (no ${tdir})`, 'trainset_not_found');
  return tdir;
}

/**
 * What the engine would train for `o` (`poisonlens train --print-config`): its resolved config
 * (the recipe's defaults applied) and the kind of the model, from the engine itself.
 */
export function trainConfig(ws: Workspace, o: TrainingSettings & { trainset?: string; from?: string }): EngineConfig {
  return engineConfig([...(o.trainset ? ['--trainset', existingTrainsetDir(ws, o.trainset)] : []), ...startAndSettingArgs(ws, o)]);
}

/**
 * Trains a model with the Python engine and returns its package, registered in the catalog.
 * A run killed before it finishes leaves its checkpoints in workspace/runs/<name>/; the same
 * call again resumes from the last one.
 */
export async function trainModel(ws: Workspace, o: TrainOptions): Promise<ModelPackage> {
  const args = engineArgs(ws, o);
  const nproc = o.nproc ?? deviceDefaults().nproc ?? 1;
  // Temp folders of packages whose writer was killed (kill -9 during export) go first.
  removeStaleTempDirs(modelDir(ws, o.name));
  const view = new TrainView(o.name, Boolean(o.quiet));
  // Recorded as a job in the catalog (when the package is registered there): a run killed
  // with -9 is marked failed at the next start-up, and rerunning the command resumes it.
  const db = (o.register ?? true) ? openCatalog(ws.catalogPath) : null;
  try {
    const job = db
      ? startJob(db, 'train', o.name, {
          trainset: o.trainset, from: o.from ?? null, arch: o.arch ?? null, pretrained: o.pretrained ?? null,
          epochs: o.epochs ?? null, steps: o.steps ?? null, batch: o.batch ?? null, lr: o.lr ?? null, seed: o.seed ?? null,
          freeze: o.freeze ?? null, kind: o.kind ?? null, runDir: runDir(ws, o.name),
          device: o.device ?? deviceDefaults().device ?? 'auto', nproc,
        })
      : null;
    let total = 0;
    try {
      await runEngine(args, {
        nproc,
        onEvent: (e) => {
          view.on(e);
          if (e.event === 'plan') total = Number(e.totalSteps);
          if (e.event === 'step') job?.progress({ phase: 'train', step: Number(e.step), totalSteps: total });
          else if (e.event === 'phase' && e.name === 'export') job?.progress({ phase: 'export', step: total, totalSteps: total }, true);
          else if (e.event === 'resume') job?.progress({ phase: 'resume', step: Number(e.step), totalSteps: Number(e.totalSteps) }, true);
          o.onEvent?.(e);
        },
      }).finally(() => view.close());
      const pkg = readModelPackage(modelDir(ws, o.name));
      if (db) registerModel(db, pkg);
      job?.done({ phase: 'done', step: total, totalSteps: total });
      return pkg;
    } catch (err) {
      job?.fail(isUserError(err) && err.code === 'train_stopped' ? `${(err as Error).message} (${resumeHint('train', o.name)})` : err);
      throw err;
    }
  } finally {
    db?.close();
  }
}

const fmt = (x: unknown, d = 3) => (typeof x === 'number' ? x.toFixed(d) : '?');

/** Renders the engine's events on stderr: a bar for decoding and one for the steps. */
class TrainView {
  private bar: Progress | null = null;
  private start = 0;

  constructor(
    private readonly name: string,
    private readonly quiet: boolean,
  ) {}

  private line(s: string): void {
    if (this.quiet) return;
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    process.stderr.write(s + '\n');
  }

  on(e: EngineEvent): void {
    switch (e.event) {
      case 'model': {
        const p = e.params as { total: number; tokenEmbedding: number };
        const img = e.image as { size: number };
        const where = e.device && e.device !== 'cpu' ? `${e.device}` : `${e.threads} thread(s)`;
        const procs = Number(e.worldSize ?? 1) > 1 ? ` × ${e.worldSize} processes (torchrun)` : '';
        this.line(`train ${this.name}: ${e.arch}, ${(p.total / 1e6).toFixed(1)}M params (${(p.tokenEmbedding / 1e6).toFixed(1)}M token table), ` +
          `${img.size}px, context ${e.contextLength}, ${e.precision ?? (e.bf16 ? 'bf16' : 'fp32')}, ${where}${procs}${e.parent ? `, from ${e.parent}` : ''}`);
        break;
      }
      case 'phase':
        if (e.name === 'export') {
          this.closeBar();
          this.line('exporting image.onnx and text.onnx, checking them against torch …');
        } else {
          if (!this.bar) this.bar = new Progress({ label: String(e.name), total: Number(e.total), unit: 'img', quiet: this.quiet });
          this.bar.update(Number(e.done));
          if (Number(e.done) >= Number(e.total)) this.closeBar();
        }
        break;
      case 'data':
        this.line(`data: ${e.pairs} pairs over ${e.images} images` + (e.val ? `, validation ${(e.val as { images: number }).images} images` : '') + ` (${e.seconds}s)`);
        break;
      case 'resume':
        this.line(`resuming from the checkpoint at step ${e.step} of ${e.totalSteps}`);
        break;
      case 'note':
        this.line(`note: ${e.message}`);
        break;
      case 'plan':
        this.start = Number(e.startStep);
        this.closeBar();
        this.line(`plan: ${e.totalSteps} steps of batch ${e.batch} (${fmt(e.epochs, 2)} epochs of ${e.pairs} pairs)`);
        this.bar = new Progress({ label: this.start ? `train (from step ${this.start})` : 'train', total: Number(e.totalSteps) - this.start, unit: 'step', quiet: this.quiet });
        break;
      case 'step':
        this.bar?.update(Number(e.step) - this.start, `step ${e.step} loss ${fmt(e.loss)} ${Math.round(Number(e.samplesPerSec))} samples/s`);
        break;
      case 'eval': {
        const ir = e.ir as Record<string, number>;
        const tr = e.tr as Record<string, number>;
        this.line(`  ${e.split} @ step ${e.step} (epoch ${fmt(e.epoch, 2)}): text→image R@1/5/10 ${fmt(ir.r1)}/${fmt(ir.r5)}/${fmt(ir.r10)}, ` +
          `image→text ${fmt(tr.r1)}/${fmt(tr.r5)}/${fmt(tr.r10)} (${e.images} images)`);
        break;
      }
      case 'export': {
        const c = e.check as Record<string, number>;
        this.line(`export check: max |onnx − torch| image ${c.image.toExponential(1)}, text ${c.text.toExponential(1)}`);
        break;
      }
      case 'done':
        this.closeBar();
        this.line(`model ${e.id} (${e.kind}) written to ${e.package} after ${e.steps} steps in ${formatSeconds(Number(e.wallSeconds))} of training`);
        break;
      default:
    }
  }

  private closeBar(): void {
    this.bar?.finish();
    this.bar = null;
  }

  close(): void {
    if (this.bar) {
      if (process.stderr.isTTY && !this.quiet) process.stderr.write('\n');
      this.bar = null;
    }
  }
}
