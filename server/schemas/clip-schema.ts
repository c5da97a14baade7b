import { array, boolean, integer, nullable, number, object, oneOf, optional, string, type Infer } from '../../core/validate.js';
import { MAX_QUERY_CHARS, NAME_PATTERN } from './common-schema.js';

/**
 * clip-retrieval's back-end protocol (clip_retrieval/clip_back.py, front/src/clip-service.js).
 * Its front end sends every field on each call, with null for the unused inputs, "" for unset
 * aesthetic options and JSON as text/plain; unknown fields are ignored as the Python back end
 * ignores them.
 */
export const MAX_CLIP_RESULTS = 10_000;
/** Base64 of the largest accepted image (8 MiB) plus slack. */
const MAX_BASE64 = Math.ceil((8 * 1024 * 1024) / 3) * 4 + 16;

/** "model/dataset" or "model". */
export const indiceName = () =>
  string({
    min: 1,
    max: 201,
    pattern: new RegExp(`^${NAME_PATTERN.source.slice(1, -1)}(/${NAME_PATTERN.source.slice(1, -1)})?$`),
    patternText: 'an index name from /indices-list ("model/dataset" or "model")',
  });

const flag = () => optional(nullable(boolean(), false), false);
/** aesthetic_score / aesthetic_weight: "" or null when unset, else a number (or numeric string). */
const looseNumber = () => optional(nullable(number({ min: -1e6, max: 1e6 }), null, true), null);

export const knnBody = object(
  {
    text: optional(nullable(string({ max: MAX_QUERY_CHARS }), null), null),
    image: optional(nullable(string({ max: MAX_BASE64, pattern: /^(data:image\/[a-z+.-]+;base64,)?[A-Za-z0-9+/=\s]*$/, patternText: 'base64 image data' }), null), null),
    image_url: optional(nullable(string({ max: 4096 }), null), null),
    embedding_input: optional(nullable(array(number({ min: -1e6, max: 1e6 }), { min: 1, max: 4096 }), null), null),
    modality: optional(nullable(oneOf(['image', 'text'] as const), 'image' as const), 'image' as const),
    num_images: optional(nullable(integer(1, MAX_CLIP_RESULTS), 40), 40),
    num_result_ids: optional(nullable(integer(1, MAX_CLIP_RESULTS), null), null),
    indice_name: optional(nullable(indiceName(), null, true), null),
    use_mclip: flag(),
    deduplicate: flag(),
    use_safety_model: flag(),
    use_violence_detector: flag(),
    aesthetic_score: looseNumber(),
    aesthetic_weight: looseNumber(),
  },
  { strict: false },
);
export type KnnBody = Infer<typeof knnBody>;

export const metadataBody = object(
  {
    ids: array(integer(0, 2 ** 31 - 1), { max: MAX_CLIP_RESULTS }),
    indice_name: optional(nullable(indiceName(), null, true), null),
  },
  { strict: false },
);
export type MetadataBody = Infer<typeof metadataBody>;
