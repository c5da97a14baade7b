import type { Command } from './command.js';
import { parseFlags } from './args.js';
import { ensureVenv } from '../trainer/setup.js';

export const setupCommand: Command = {
  name: 'setup',
  summary: 'create or update the Python training engine venv (.venv); a no-op when up to date',
  usage: 'poisonlens setup',
  run(argv) {
    parseFlags(argv, {}, this.usage);
    ensureVenv();
    return 0;
  },
};
