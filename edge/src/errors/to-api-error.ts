import { HTTPException } from 'hono/http-exception';
import { ZodError } from 'zod';
import { BundleError, firstIssue, IncompatibleModelsError, InvalidArgumentError, SSD2Error } from '../../../shared/errors';
import { ProtocolError, withoutStorageKeys } from '../../../shared/protocol';
import { WorkerPoolError } from '../generation/worker-pool';
import { ApiError, invalidRequest, notFound } from './api-error';

/** Engine option names (camelCase) as the API spells them. */
const API_FIELD: Record<string, string> = {
  steps: 'steps',
  maxTokens: 'max_tokens',
  blockSize: 'block_size',
  topP: 'top_p',
  seed: 'seed',
  lambda: 'lambda',
  earlyStopPatience: 'early_stop',
  earlyStopConfidence: 'early_stop_confidence',
  commitConfidence: 'commit_confidence',
  minTokens: 'min_tokens',
  projection: 'projection',
  prompt: 'prompt',
  userContext: 'private_context',
};

function apiFieldName(engineField: string): string {
  const [head, ...rest] = engineField.split('.');
  return [API_FIELD[head] ?? head, ...rest].join('.');
}

/**
 * Maps anything thrown while serving a request to an ApiError. Caller mistakes are 4xx; a GPU
 * worker rejecting a well-formed request is the edge's or the worker's fault (502); unknown
 * errors are the only 500s.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) {
    if (err.status === 413) return new ApiError(413, 'invalid_request_error', 'body_too_large', err.message || 'request body too large');
    if (err.status < 500) return invalidRequest(null, `invalid request body: ${err.message}`, 'invalid_json');
  }
  if (err instanceof ZodError) {
    const { field, text } = firstIssue(err);
    return invalidRequest(field, text);
  }
  if (err instanceof InvalidArgumentError) {
    const param = apiFieldName(err.field);
    return invalidRequest(param, err.message.replace(`${err.field}:`, `${param}:`));
  }
  if (err instanceof IncompatibleModelsError) return invalidRequest('user_model', err.message, err.code);
  // Server-side failures say what failed, never where: no worker URL, bucket key or exception text
  // (app.ts logs those with the request id, which the body carries).
  if (err instanceof BundleError) return new ApiError(502, 'api_error', err.code, 'the model bundle could not be loaded');
  if (err instanceof SSD2Error) return invalidRequest(null, err.message, err.code);
  if (err instanceof ProtocolError) {
    // A user-model bundle the tenant named that does not exist (or is not the tenant's: the same
    // answer, so nothing says whether another tenant's exists) or does not fit: the caller's to fix.
    if (err.field?.startsWith('user') && (err.status === 404 || err.status === 403))
      return notFound(
        'user_model',
        'no user model by that name for this tenant: neither an uploaded one (GET /v1/user_models lists them) nor a bundle placed under ' +
          "the tenant's prefix",
        'user_model_not_found',
      );
    if (err.field?.startsWith('user') && err.status < 500) {
      const detail = err.detail.startsWith(`${err.field}: `) ? err.detail.slice(err.field.length + 2) : err.detail;
      const param = err.field === 'user.context' ? 'private_context' : 'user_model';
      return new ApiError(400, 'invalid_request_error', err.code, withoutStorageKeys(detail).trim(), param);
    }
    return new ApiError(502, 'api_error', 'upstream_error', `the GPU worker could not serve this request (${err.code})`);
  }
  if (err instanceof WorkerPoolError)
    return new ApiError(502, 'api_error', 'upstream_unavailable', 'no GPU worker could serve this request; retry shortly');
  return new ApiError(500, 'api_error', 'internal', 'internal error');
}
