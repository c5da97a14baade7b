import { goal, k, name, queryText } from './common-schema.js';
import { object, optional, type Infer } from '../../core/validate.js';

/** GET /api/search?q=TEXT&k=10&model=ID&dataset=N[&goal=A>B] */
export const searchQuery = object({
  q: queryText(),
  k: k(),
  model: optional(name()),
  dataset: optional(name()),
  goal: optional(goal()),
});
export type SearchQuery = Infer<typeof searchQuery>;

/** POST /api/search/image?k=10&model=ID&dataset=N — the body is the image (raw or multipart). */
export const searchImageQuery = object({
  k: k(),
  model: optional(name()),
  dataset: optional(name()),
  goal: optional(goal()),
});
export type SearchImageQuery = Infer<typeof searchImageQuery>;

/** Largest accepted query image and its pixel count (decompression-bomb guard). */
export const IMAGE_LIMITS = { maxBytes: 8 * 1024 * 1024, maxPixels: 25_000_000 };

/** GET /api/alarm?model=ID&dataset=N — the poisoning alarm of a model over a gallery. */
export const alarmQuery = object({
  model: optional(name()),
  dataset: optional(name()),
});
