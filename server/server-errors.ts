import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isUserError, NotFoundError, UserError } from '../core/errors.js';

/**
 * The one error exit of the server. Services and routes throw UserError (the caller's mistake:
 * a 4xx with its message) or anything else (our fault: a 500 whose body hides the details, which
 * go to the log with method and URL). Every error body is `{"error": {code, message}}`.
 */
export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Errors raised by express's own body parsers and the router carry `status` and `type`. */
interface HttpishError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

const PARSER_CODES: Record<string, [string, string]> = {
  'entity.too.large': ['body_too_large', 'request body is larger than this route accepts'],
  'entity.parse.failed': ['invalid_json', 'request body is not valid JSON'],
  'encoding.unsupported': ['unsupported_encoding', 'request body encoding is not supported'],
  'charset.unsupported': ['unsupported_charset', 'request body charset is not supported'],
  'request.aborted': ['request_aborted', 'request was aborted by the client'],
  'request.size.invalid': ['invalid_size', 'request body size does not match Content-Length'],
  'stream.encoding.set': ['bad_request', 'request stream could not be read'],
  'parameters.too.many': ['too_many_parameters', 'too many parameters'],
};

export interface ErrorLog {
  error(message: string): void;
}

export function errorHandler(log: ErrorLog = console): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let status: number;
    let body: ErrorBody;
    if (isUserError(err)) {
      status = err.status;
      body = errorBody(err.code, err.message);
      if (status === 503 || status === 429) res.setHeader('Retry-After', res.getHeader('Retry-After') ?? '2');
    } else {
      const h = (err ?? {}) as HttpishError;
      const s = h.status ?? h.statusCode;
      if (typeof s === 'number' && s >= 400 && s < 500) {
        // A 4xx from express's parsers (size limit, bad JSON) or the router (bad URI encoding).
        status = s;
        const known = h.type ? PARSER_CODES[h.type] : undefined;
        body = known
          ? errorBody(known[0], known[1])
          : errorBody(s === 404 ? 'not_found' : 'bad_request', s === 400 && /URI|decode/i.test(h.message ?? '') ? 'the request URL is not valid percent-encoding' : 'the request could not be understood');
      } else {
        status = 500;
        body = errorBody('internal', 'internal server error');
        const e = err as Error;
        log.error(`[server] ${req.method} ${safeUrl(req.originalUrl)} failed: ${e?.stack ?? String(err)}`);
      }
    }
    if (res.headersSent) {
      // The response already started (a stream broke halfway): all we can do is end it.
      res.destroy();
      return;
    }
    res.status(status).type('application/json').send(JSON.stringify(body));
  };
}

/** The last route: nothing matched. */
export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => {
    next(new NotFoundError(`no route ${req.method} ${safeUrl(req.path).slice(0, 200)}`, 'no_route'));
  };
}

/** For logs: drop control characters so a hostile URL cannot forge log lines. */
export function safeUrl(url: string): string {
  // eslint-disable-next-line no-control-regex
  return String(url).replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 500);
}

export class ConflictError extends UserError {
  constructor(message: string, code = 'conflict') {
    super(message, code, 409);
  }
}

export class UnauthorizedError extends UserError {
  constructor(message: string, code = 'unauthorized') {
    super(message, code, 401);
  }
}

export class TooManyRequestsError extends UserError {
  constructor(message: string) {
    super(message, 'rate_limited', 429);
  }
}

export class UnsupportedMediaError extends UserError {
  constructor(message: string) {
    super(message, 'unsupported_media_type', 415);
  }
}

export class PayloadTooLargeError extends UserError {
  constructor(message: string) {
    super(message, 'body_too_large', 413);
  }
}

export class ServiceUnavailableError extends UserError {
  // 503 is not the caller's mistake, but it is not a crash either: the message says what to do.
  constructor(message: string, code = 'unavailable') {
    super(message, code, 503);
  }
}
