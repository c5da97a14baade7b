import { goal, name } from './common-schema.js';
import { array, boolean, integer, nullable, object, oneOf, optional, string, type Infer } from '../../core/validate.js';

/**
 * POST /api/eval {model, dataset, attack, goal?, k?: [1,5,10,…], mode?: "ann"|"exact", …}
 * (ARCHITECTURE.md §4). Attack metrics per §5; utility and drift on request.
 */
export const evalBody = object({
  model: name(),
  dataset: name(),
  attack: oneOf(['I', 'II', 'III', 'backdoor'] as const),
  goal: optional(goal()),
  targetImage: optional(string({ min: 1, max: 300 })),
  k: optional(array(integer(1, 1000), { min: 1, max: 20 })),
  mode: optional(oneOf(['exact', 'ann'] as const), 'exact'),
  cleanModel: optional(nullable(name(), null)),
  seed: optional(integer(0, 2 ** 31 - 1)),
  utility: optional(boolean(), false),
  drift: optional(boolean(), false),
  perQuery: optional(boolean(), false),
});
export type EvalBody = Infer<typeof evalBody>;
