import { NAME_PATTERN, NAME_RULE } from '../../core/workspace.js';
import { integer, optional, string } from '../../core/validate.js';

/** Names of models and datasets are folder names (core/workspace.ts: the one pattern). */
export { NAME_PATTERN };

export const name = () => string({ min: 1, max: 100, pattern: NAME_PATTERN, patternText: NAME_RULE });

/** Query text: CLIP reads at most its context length of tokens; 1,000 characters is plenty. */
export const MAX_QUERY_CHARS = 1000;
export const queryText = () => string({ min: 1, max: MAX_QUERY_CHARS, trim: true });

/** Results per search: the bound 1..1000. */
export const MAX_K = 1000;
export const k = (fallback = 10) => optional(integer(1, MAX_K), fallback);

/** An attack goal "A>B" or several "A>B,A2>B2" (class names: letters, digits, space, '_', '-'). */
export const goal = () =>
  string({
    min: 3,
    max: 500,
    pattern: /^[A-Za-z0-9 _-]+>[A-Za-z0-9 _-]+(,[A-Za-z0-9 _-]+>[A-Za-z0-9 _-]+)*$/,
    patternText: 'an attack goal like "sheep>aeroplane" (several separated by commas)',
  });
