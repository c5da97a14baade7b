import { sha256 } from '../../core/fsutil.js';

/**
 * Content-addressed names: an artefact's id is a hash of everything that decides its content
 * (its inputs), so that the same inputs name the same artefact in every study and a changed
 * input names a new one.
 */

/** JSON with object keys sorted at every level (undefined fields dropped), for hashing. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stableStringify(v))).join(',')}]`;
  const keys = Object.keys(value as Record<string, unknown>)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function inputsHash(inputs: unknown): string {
  return sha256(stableStringify(inputs));
}

/** `<prefix>-<first 12 hex digits of the inputs' hash>`: a valid workspace name. */
export function contentId(prefix: string, inputs: unknown): string {
  return `${prefix}-${inputsHash(inputs).slice(0, 12)}`;
}
