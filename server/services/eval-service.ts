import { UserError } from '../../core/errors.js';
import type { Workspace } from '../../core/workspace.js';
import type { EvalBackend } from '../../eval/backend.js';
import { evaluate, type EvalResult } from '../../eval/evaluate.js';
import type { EvalBody } from '../schemas/eval-schema.js';

/**
 * Runs attack evaluations for POST /api/eval. An evaluation embeds a whole test split, so they
 * run one at a time; a few wait in line and the rest are told to come back (429) rather than
 * piling up work the server cannot finish.
 */
export class EvalService {
  private running: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly ws: Workspace,
    /** Where the evaluated models and their indexes come from (app.ts passes the indexer's). */
    private readonly backend: EvalBackend,
    private readonly maxQueued = 4,
  ) {}

  async run(body: EvalBody): Promise<EvalResult> {
    if (this.waiting >= this.maxQueued) {
      throw new UserError(`${this.waiting} evaluations are already queued; retry later`, 'eval_busy', 429);
    }
    this.waiting++;
    const turn = this.running.catch(() => undefined).then(() =>
      evaluate(
        this.ws,
        {
          model: body.model,
          dataset: body.dataset,
          attack: body.attack,
          goal: body.goal,
          targetImage: body.targetImage,
          ks: body.k,
          mode: body.mode,
          cleanModel: body.cleanModel,
          cleanDefault: 'same-pool',
          seed: body.seed,
          utility: body.utility,
          drift: body.drift,
          perQuery: body.perQuery,
        },
        { backend: this.backend },
      ),
    );
    this.running = turn;
    try {
      return await turn;
    } finally {
      this.waiting--;
    }
  }
}
