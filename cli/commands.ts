import type { Command } from './command.js';
import { dataCommand } from './data.js';
import { setupCommand } from './setup.js';
import { poisonCommand } from './poison.js';
import { evalCommand } from './eval.js';
import { indexCommand } from './indexCommand.js';
import { embedCommand } from './embed.js';
import { serveCommand } from './serve.js';
import { upCommand } from './up.js';
import { trainsetCommand } from './trainset.js';
import { trainCommand } from './train.js';
import { modelsCommand } from './models.js';
import { defendCommand } from './defend.js';
import { alarmCommand } from './alarm.js';
import { experimentCommand } from './experiment.js';
import { reportCommand } from './report-command.js';

/**
 * Every verb of `poisonlens`, in the order `help` lists them. Each lives in its own module
 * under cli/, which parses flags and hands off to the layer that does the work.
 */
export const COMMANDS: Command[] = [upCommand, setupCommand, dataCommand, trainsetCommand, poisonCommand, trainCommand, modelsCommand, defendCommand, alarmCommand, evalCommand, experimentCommand, reportCommand, indexCommand, embedCommand, serveCommand];
