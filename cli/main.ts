import { isUserError } from '../core/errors.js';
import type { CommandContext } from './command.js';
import { COMMANDS } from './commands.js';

function help(): string {
  const lines = ['usage: poisonlens [--workspace DIR] <command> [flags]', '', 'commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  lines.push('', 'Run `poisonlens <command> --help` for its flags.');
  return lines.join('\n');
}

/**
 * The command-line entry point: returns the exit code; bad input is one line on stderr.
 * `deps` hands commands what a caller may replace (tests: the evaluation backend).
 */
export async function main(argv: string[], deps: Omit<CommandContext, 'workspaceDir'> = {}): Promise<number> {
  let workspaceDir: string | undefined;
  const args = argv.slice();
  while (args[0] === '--workspace') {
    workspaceDir = args[1];
    args.splice(0, 2);
    if (!workspaceDir) return fail('--workspace needs a folder');
  }
  const [verb, ...rest] = args;
  if (!verb || verb === 'help' || verb === '--help' || verb === '-h') {
    console.log(help());
    return verb ? 0 : 1;
  }
  const command = COMMANDS.find((c) => c.name === verb);
  if (!command) return fail(`unknown command ${JSON.stringify(verb)}; run \`poisonlens help\` for the list`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: ${command.usage}\n\n${command.summary}`);
    return 0;
  }
  try {
    return await command.run(rest, { ...deps, workspaceDir });
  } catch (err) {
    if (isUserError(err)) return fail(err.message);
    throw err;
  }
}

function fail(message: string): number {
  console.error(`poisonlens: ${message}`);
  return 2;
}
