/**
 * The one error type the caller's mistakes travel in. The CLI prints `message` on one line and
 * exits non-zero; the server turns it into `{"error": {code, message}}` with `status`.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code = 'bad_request',
    readonly status = 400,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export class NotFoundError extends UserError {
  constructor(message: string, code = 'not_found') {
    super(message, code, 404);
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
