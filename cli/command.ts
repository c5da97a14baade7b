import type { Workspace } from '../core/workspace.js';
import type { EvalBackend } from '../eval/backend.js';

/** One verb of the command line. `run` returns the process exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], ctx: CommandContext): Promise<number> | number;
}

export interface CommandContext {
  /** --workspace, or undefined for POISONLENS_WORKSPACE / ./workspace. */
  workspaceDir?: string;
  /** The evaluation backend of `eval` (tests hand in their own); undefined: the indexer's. */
  evalBackend?: (ws: Workspace) => EvalBackend;
}
