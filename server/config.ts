import { UserError } from '../core/errors.js';
import type { RateLimitConfig } from './http/security.js';
import { name, NAME_PATTERN } from './schemas/common-schema.js';
import { ALARM_DEFAULTS, type AlarmSettings } from './services/alarm-service.js';
import { array, boolean, integer, number, object, oneOf, optional, string, type Check } from '../core/validate.js';

/** The server's settings, checked once at start-up (defaults here; overrides from env or the caller). */
export interface AppConfig {
  /** Bearer token of state-changing routes. */
  adminToken: string;
  /** Models held in memory at once (LRU beyond). */
  maxLoaded: number;
  /** Split of the dataset that galleries cover. */
  split: string;
  /** Allow ordinary searches to build missing indexes (otherwise only hot swaps do). */
  buildOnDemand: boolean;
  /** Gallery dataset when a request names none (default: the model's training dataset). */
  defaultDataset?: string;
  /** The model active at start (default: the newest clean model, else base, else any). */
  activeModel?: string;
  /**
   * Models loaded in the background once the active one is ready (with their alarms prepared),
   * so that the compare view answers its first query at once: `poisonlens up` names the world's
   * models (`serve --preload a,b,c`, POISONLENS_PRELOAD). At most maxLoaded models in all.
   */
  preload: string[];
  rateLimit: RateLimitConfig;
  /** Largest JSON body of the API routes, bytes. */
  jsonLimit: number;
  /** Thumbnail edge, pixels. */
  thumbSize: number;
  /** Entries of the server's one query-text embedding cache, all models together (QueryTextCache). */
  textCacheSize: number;
  /** Honour X-Forwarded-For (only behind a proxy you run). */
  trustProxy: boolean;
  /** The per-query poisoning alarm (services/alarm-service.ts). */
  alarm: AlarmSettings;
}

export const DEFAULTS: Omit<AppConfig, 'adminToken'> = {
  maxLoaded: 4,
  split: 'test',
  buildOnDemand: false,
  // 2,000 searches/s sustained per client with bursts of 4,000: far above what the benches
  // send from one process (hundreds/s), low enough to stop one client flooding the encoders.
  rateLimit: { perSecond: 2000, burst: 4000 },
  jsonLimit: 64 * 1024,
  thumbSize: 256,
  // One cache for all loaded models and the alarm's reference models (each had 1,024 of its own).
  textCacheSize: 4096,
  preload: [],
  trustProxy: false,
  alarm: ALARM_DEFAULTS,
};

const configSchema = object({
  adminToken: string({ min: 16, max: 512, pattern: /^\S+$/, patternText: 'at least 16 characters without spaces' }),
  maxLoaded: integer(1, 64),
  split: oneOf(['train', 'val', 'test', 'all'] as const),
  buildOnDemand: boolean(),
  defaultDataset: optional(name()),
  activeModel: optional(name()),
  preload: array(name(), { max: 64 }),
  rateLimit: object({ perSecond: integer(0, 1_000_000), burst: integer(1, 10_000_000) }),
  jsonLimit: integer(1024, 64 * 1024 * 1024),
  thumbSize: integer(16, 1024),
  textCacheSize: integer(0, 1_000_000),
  trustProxy: boolean(),
  alarm: object({
    enabled: boolean(),
    reference: string({ min: 1, max: 100, pattern: NAME_PATTERN, patternText: '"auto", "none" or a model id' }),
    trusted: string({ min: 1, max: 100, pattern: NAME_PATTERN, patternText: '"auto" or a model id' }),
    fpr: number({ min: 0.0001, max: 0.5 }),
    k: integer(1, 100),
    queries: integer(10, 100_000),
    waitMs: integer(0, 600_000),
    build: boolean(),
  }),
});

export function resolveConfig(partial: Partial<AppConfig> & { adminToken: string }): AppConfig {
  const merged = {
    ...DEFAULTS,
    ...dropUndefined(partial),
    rateLimit: { ...DEFAULTS.rateLimit, ...(partial.rateLimit ?? {}) },
    alarm: { ...DEFAULTS.alarm, ...dropUndefined(partial.alarm ?? {}) },
  };
  try {
    return (configSchema as Check<AppConfig>)(merged, 'config');
  } catch (err) {
    throw new UserError(`server configuration: ${(err as Error).message}`, 'bad_config');
  }
}

/**
 * Overrides from the environment: POISONLENS_MAX_MODELS, POISONLENS_SPLIT, POISONLENS_MODEL,
 * POISONLENS_DATASET, POISONLENS_PRELOAD (model ids, comma-separated), POISONLENS_BUILD_ON_DEMAND (1/0), POISONLENS_RATE_LIMIT (searches per
 * second per client, 0 = off), POISONLENS_RATE_BURST, POISONLENS_TRUST_PROXY (1/0); the poisoning
 * alarm: POISONLENS_ALARM (1/0), POISONLENS_ALARM_REFERENCE (auto, none or a model id),
 * POISONLENS_ALARM_TRUSTED (auto or a model id), POISONLENS_ALARM_FPR, POISONLENS_ALARM_K,
 * POISONLENS_ALARM_QUERIES, POISONLENS_ALARM_BUILD (1/0).
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<AppConfig> {
  const out: Partial<AppConfig> = {};
  const int = (key: string, min: number, max: number) => {
    const v = env[key];
    if (v === undefined || v === '') return undefined;
    try {
      return integer(min, max)(v, key);
    } catch (err) {
      throw new UserError((err as Error).message, 'bad_config');
    }
  };
  const bool = (key: string) => {
    const v = env[key];
    if (v === undefined || v === '') return undefined;
    try {
      return boolean()(v, key);
    } catch (err) {
      throw new UserError((err as Error).message, 'bad_config');
    }
  };
  out.maxLoaded = int('POISONLENS_MAX_MODELS', 1, 64);
  if (env.POISONLENS_SPLIT) out.split = env.POISONLENS_SPLIT;
  if (env.POISONLENS_MODEL) out.activeModel = env.POISONLENS_MODEL;
  if (env.POISONLENS_DATASET) out.defaultDataset = env.POISONLENS_DATASET;
  if (env.POISONLENS_PRELOAD) out.preload = env.POISONLENS_PRELOAD.split(',').map((x) => x.trim()).filter(Boolean);
  out.buildOnDemand = bool('POISONLENS_BUILD_ON_DEMAND');
  out.trustProxy = bool('POISONLENS_TRUST_PROXY');
  const perSecond = int('POISONLENS_RATE_LIMIT', 0, 1_000_000);
  const burst = int('POISONLENS_RATE_BURST', 1, 10_000_000);
  if (perSecond !== undefined || burst !== undefined) {
    out.rateLimit = { perSecond: perSecond ?? DEFAULTS.rateLimit.perSecond, burst: burst ?? Math.max(1, (perSecond ?? DEFAULTS.rateLimit.perSecond) * 2) };
  }
  const fpr = env.POISONLENS_ALARM_FPR;
  const alarm: Partial<AlarmSettings> = dropUndefined({
    enabled: bool('POISONLENS_ALARM'),
    reference: env.POISONLENS_ALARM_REFERENCE || undefined,
    trusted: env.POISONLENS_ALARM_TRUSTED || undefined,
    fpr: fpr ? Number(fpr) : undefined,
    k: int('POISONLENS_ALARM_K', 1, 100),
    queries: int('POISONLENS_ALARM_QUERIES', 10, 100_000),
    build: bool('POISONLENS_ALARM_BUILD'),
  });
  if (Object.keys(alarm).length) out.alarm = alarm as AlarmSettings;
  return dropUndefined(out);
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
