import { goal, k, name, MAX_QUERY_CHARS } from './common-schema.js';
import { anyOf, array, object, optional, refine, string, invalid, type Infer } from '../../core/validate.js';

const pageText = () => optional(string({ max: MAX_QUERY_CHARS, trim: true }), '');

/** GET /?q=…&model=…&dataset=…&k=… — every field optional: the empty page is a search box. */
export const indexQuery = object({
  q: pageText(),
  model: optional(name()),
  dataset: optional(name()),
  k: k(24),
});
export type IndexQuery = Infer<typeof indexQuery>;

/**
 * "a,b,c" (the documented form), or the same field repeated (the page's three pickers send
 * `models=a&models=b&models=`): one to three model ids, blanks dropped, no repeats.
 */
const modelList = refine(anyOf(string({ max: 400 }), array(string({ max: 400 }), { max: 3 }), 'a comma-separated list of model ids'), (v, path) => {
  const ids = (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((x) => x.trim()).filter(Boolean);
  const parsed = array(name(), { min: 1, max: 3 })(ids, path);
  if (new Set(parsed).size !== parsed.length) invalid(path, 'names a model twice');
  return parsed;
});

/** GET /compare?q=…&models=a,b,c[&dataset=…][&k=…][&goal=A>B] */
export const compareQuery = object({
  q: pageText(),
  models: optional(modelList),
  dataset: optional(name()),
  k: k(12),
  goal: optional(goal()),
});
export type CompareQuery = Infer<typeof compareQuery>;
