import type { Command } from './command.js';
import { dataCommand } from './data-command.js';
import { setupCommand } from './setup-command.js';
import { poisonCommand } from './poison-command.js';
import { evalCommand } from './eval-command.js';
import { indexCommand } from './index-command.js';
import { embedCommand } from './embed-command.js';
import { serveCommand } from './serve-command.js';
import { upCommand } from './up-command.js';
import { trainsetCommand } from './trainset-command.js';
import { trainCommand } from './train-command.js';
import { modelsCommand } from './models-command.js';
import { defendCommand } from './defend-command.js';
import { alarmCommand } from './alarm-command.js';
import { experimentCommand } from './experiment-command.js';
import { reportCommand } from './report-command.js';

/**
 * Every verb of `poisonlens`, in the order `help` lists them. Each lives in its own module
 * under cli/, which parses flags and hands off to the layer that does the work.
 */
export const COMMANDS: Command[] = [upCommand, setupCommand, dataCommand, trainsetCommand, poisonCommand, trainCommand, modelsCommand, defendCommand, alarmCommand, evalCommand, experimentCommand, reportCommand, indexCommand, embedCommand, serveCommand];
