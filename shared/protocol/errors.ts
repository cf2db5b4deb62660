import type { ErrorBody } from './schemas';

/** An error reply from a worker, as a client sees it. */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    /** The worker's own message (`message` adds the status, code and field in front). */
    readonly detail: string,
    readonly field: string | null,
  ) {
    super(`${status} ${code}${field ? ` (${field})` : ''}: ${detail}`);
    this.name = 'ProtocolError';
  }

  static fromBody(status: number, body: ErrorBody): ProtocolError {
    return new ProtocolError(status, body.error.code, body.error.message, body.error.field);
  }
}

/**
 * The error codes a worker answers with (its body's `error.code`), named once for the worker that
 * sends them and the edge that reads them.
 */
export const WorkerErrorCode = {
  /** 400: a field of the request is wrong (`error.field` names it). */
  invalidArgument: 'invalid_argument',
  /** 400: the body is not JSON. */
  invalidJson: 'invalid_json',
  /** 415: a JSON body sent without `Content-Type: application/json`. */
  invalidContentType: 'invalid_content_type',
  /** 401: no valid edge credential. */
  unauthorized: 'unauthorized',
  /** 403: a user model outside the token's tenant. */
  forbidden: 'forbidden',
  /** 404: no bundle under the model reference. */
  modelNotFound: 'model_not_found',
  /** 409: the worker does not hold the context with this hash: re-send the tokens. */
  contextUnknown: 'context_unknown',
  /** 413 */
  bodyTooLarge: 'body_too_large',
  /** 422: a bundle that does not verify or load. */
  invalidBundle: 'invalid_bundle',
  /** 422: a user model that does not fit the core. */
  incompatibleModels: 'incompatible_models',
  /** 422: an uploaded file whose size or sha256 is not the manifest's (`error.field` names the file). */
  fileMismatch: 'file_mismatch',
  /** 503: the step queue is full. */
  overloaded: 'overloaded',
  /** 503: the worker is draining. */
  shuttingDown: 'shutting_down',
  /** 500 */
  internal: 'internal',
} as const;

/** Codes that say "this worker, not this request": the edge moves the generation to another worker. */
export const RETRYABLE_WORKER_CODES: ReadonlySet<string> = new Set([
  WorkerErrorCode.overloaded,
  WorkerErrorCode.shuttingDown,
  WorkerErrorCode.internal,
]);

/** The code a worker answers (HTTP 409) when given a context hash it does not hold: re-send the tokens. */
export const CONTEXT_UNKNOWN = WorkerErrorCode.contextUnknown;

/** The code a worker answers (HTTP 401) to a request without a valid edge credential. */
export const UNAUTHORIZED = WorkerErrorCode.unauthorized;

/**
 * A worker's message with bucket locations (`s3://<bucket>/…/tenants/<id>/…`, `…/models/<name>/<version>/…`)
 * cut to their last segment, so what a caller reads names the file, never where it is stored.
 */
export function withoutStorageKeys(message: string): string {
  return message.replace(/(?:s3:\/\/)?(?:[\w.-]+\/)*(?:tenants|models)\/[\w.@-]+\/(?:[\w.@-]+\/)*/g, '');
}
