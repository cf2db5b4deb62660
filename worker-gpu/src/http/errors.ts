import { ZodError } from 'zod';
import { BundleError, firstIssue, IncompatibleModelsError, InvalidArgumentError, SSD2Error } from '../../../shared/errors';
import { CONTEXT_UNKNOWN, UNAUTHORIZED, WorkerErrorCode, type ErrorBody } from '../../../shared/protocol';

/** An error the worker answers with a chosen HTTP status; `field` names the request field. */
export class WorkerError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 503,
    readonly code: string,
    readonly field: string | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WorkerError';
  }
}

export const modelNotFound = (field: string, what: string) =>
  new WorkerError(404, WorkerErrorCode.modelNotFound, field, `no bundle at ${what}`);
export const forbidden = (field: string, message: string) => new WorkerError(403, WorkerErrorCode.forbidden, field, message);
export const contextUnknown = (field: string) =>
  new WorkerError(409, CONTEXT_UNKNOWN, field, 'this worker does not hold the context with this hash; send the tokens in "context"');
export const unauthorized = (message: string) => new WorkerError(401, UNAUTHORIZED, null, message);
export const overloaded = () => new WorkerError(503, WorkerErrorCode.overloaded, null, 'the step queue is full; retry shortly');

/** Where in the request an error from a model (core or user) belongs. */
export function withField(err: unknown, field: string): unknown {
  if (err instanceof BundleError) return new WorkerError(422, WorkerErrorCode.invalidBundle, field, err.message, { cause: err });
  if (err instanceof IncompatibleModelsError)
    return new WorkerError(422, WorkerErrorCode.incompatibleModels, field, err.message, { cause: err });
  return err;
}

/** Maps any error to a status and the protocol's error body; unknown errors are the only 500s. */
export function errorReply(err: unknown): { status: number; body: ErrorBody } {
  const body = (code: string, message: string, field: string | null): ErrorBody => ({ error: { code, message, field } });
  if (err instanceof WorkerError) return { status: err.status, body: body(err.code, err.message, err.field) };
  if (err instanceof ZodError) {
    const { field, text } = firstIssue(err);
    // An unknown key is named by its own path (options.stpes), not its object's.
    const issue = err.issues[0];
    const key = issue?.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]].join('.') : null;
    return { status: 400, body: body(WorkerErrorCode.invalidArgument, text, key ?? field) };
  }
  if (err instanceof InvalidArgumentError) return { status: 400, body: body(err.code, err.message, err.field) };
  if (err instanceof BundleError) return { status: 422, body: body(err.code, err.message, 'model') };
  if (err instanceof IncompatibleModelsError) return { status: 422, body: body(err.code, err.message, 'user') };
  if (err instanceof SSD2Error) return { status: 400, body: body(err.code, err.message, null) };
  return { status: 500, body: body(WorkerErrorCode.internal, (err as Error)?.message ?? String(err), null) };
}
