import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { TooManyRequestsError, UnauthorizedError } from '../server-errors.js';
import { UserError } from '../../core/errors.js';

/**
 * Pages load only their own scripts, styles and images: no inline script, no CDN, no framing.
 * `img-src blob:` lets the search page preview an image the user picked before uploading it.
 */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
    next();
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Compares in time independent of where the strings differ (both are hashed to 32 bytes first). */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected)) && expected.length > 0;
}

/**
 * State-changing routes need `Authorization: Bearer <POISONLENS_ADMIN_TOKEN>`: 401 without it,
 * 403 with a wrong one.
 */
export function requireAdmin(token: string): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    if (!header) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="poisonlens"');
      return next(new UnauthorizedError('this route changes server state and needs `Authorization: Bearer <POISONLENS_ADMIN_TOKEN>`', 'admin_token_required'));
    }
    const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
    if (!m || !tokenMatches(m[1], token)) return next(new UserError('the admin token is wrong', 'admin_token_invalid', 403));
    next();
  };
}

export interface RateLimitConfig {
  /** Sustained requests per second per client; 0 turns the limit off. */
  perSecond: number;
  /** Requests a client may send at once before the sustained rate applies. */
  burst: number;
}

/**
 * A token bucket per client address. Generous by default (benchmarks on loopback must pass),
 * it stops one client from monopolising the encoders. The table of clients is bounded.
 */
export function rateLimit(config: RateLimitConfig, clientOf: (req: Request) => string = (req) => req.ip ?? req.socket.remoteAddress ?? '?'): RequestHandler {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const MAX_CLIENTS = 10_000;
  return (req, res, next) => {
    if (config.perSecond <= 0) return next();
    const now = Date.now();
    const key = clientOf(req);
    let b = buckets.get(key);
    if (!b) {
      if (buckets.size >= MAX_CLIENTS) {
        // Drop clients whose buckets have refilled (they lose nothing) before admitting a new one.
        for (const [k, v] of buckets) if (v.tokens + ((now - v.at) / 1000) * config.perSecond >= config.burst) buckets.delete(k);
        if (buckets.size >= MAX_CLIENTS) buckets.delete(buckets.keys().next().value as string);
      }
      b = { tokens: config.burst, at: now };
      buckets.set(key, b);
    }
    b.tokens = Math.min(config.burst, b.tokens + ((now - b.at) / 1000) * config.perSecond);
    b.at = now;
    if (b.tokens < 1) {
      const wait = Math.ceil((1 - b.tokens) / config.perSecond);
      res.setHeader('Retry-After', String(Math.max(1, wait)));
      return next(new TooManyRequestsError(`too many searches from this client; the limit is ${config.perSecond}/s (burst ${config.burst})`));
    }
    b.tokens -= 1;
    next();
  };
}
