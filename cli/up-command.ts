import type { Command } from './command.js';
import { parseFlags } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { ensureVenv } from '../trainer/setup.js';
import { buildWorld, loadWorldSpec } from '../trainer/world.js';
import { serveCommand } from './serve-command.js';
import { applyDeviceFlags } from './train-command.js';

const USAGE = 'poisonlens up [--port 3000] [--host 127.0.0.1] [--no-serve] [--device auto|cpu|cuda|mps] [--nproc N]';

/**
 * The main job (`npm start`): builds what is missing of the default world (trainer/world.json:
 * scenes dataset, base model, Attack II poisoned and clean fine-tunes, a sterilised defended model) while serving the search
 * page, which shows the build's progress and adopts the first model as soon as it exists.
 */
export const upCommand: Command = {
  name: 'up',
  summary: 'the main job: build the default world if missing (with progress) and serve the search page',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      { port: { type: 'string' }, host: { type: 'string' }, 'no-serve': { type: 'boolean' }, device: { type: 'string' }, nproc: { type: 'string' } },
      USAGE,
    );
    applyDeviceFlags(values);
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const ws = resolveWorkspace(ctx.workspaceDir);
    const spec = loadWorldSpec();
    ensureVenv();
    const build = buildWorld(ws, spec).then(
      () => {
        const q = encodeURIComponent('a sheep standing on the grass');
        console.log(`up: the default world is ready. Compare clean, poisoned and defended: /compare?q=${q}&models=${spec.clean.name},${spec.poisoned.name},${spec.defended.name}`);
        return 0;
      },
      (err: Error) => {
        console.error(`poisonlens up: building the default world failed: ${err.message}`);
        return 1;
      },
    );
    if (values['no-serve']) return build;
    // The world's models load in the background once the active one is ready: the compare view
    // (which names them) then answers its first query at once. Those not built yet are skipped.
    const serveArgs: string[] = ['--preload', [spec.clean.name, spec.poisoned.name, spec.defended.name, spec.base.name].join(',')];
    if (values.port) serveArgs.push('--port', values.port as string);
    if (values.host) serveArgs.push('--host', values.host as string);
    return serveCommand.run(serveArgs, ctx);
  },
};
