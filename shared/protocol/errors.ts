import type { ErrorBody } from './schemas';

/** An error reply from a worker, as a client sees it. */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null,
  ) {
    super(`${status} ${code}${field ? ` (${field})` : ''}: ${message}`);
    this.name = 'ProtocolError';
  }

  static fromBody(status: number, body: ErrorBody): ProtocolError {
    return new ProtocolError(status, body.error.code, body.error.message, body.error.field);
  }
}

/** The code a worker answers (HTTP 409) when given a context hash it does not hold: re-send the tokens. */
export const CONTEXT_UNKNOWN = 'context_unknown';

/** The code a worker answers (HTTP 401) to a request without a valid edge credential. */
export const UNAUTHORIZED = 'unauthorized';
