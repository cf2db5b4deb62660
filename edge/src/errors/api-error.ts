/** OpenAI's error `type`s that this API answers with. */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'api_error';

/** An error with the HTTP status and the body OpenAI clients expect: `{error: {message, type, param, code}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 402 | 403 | 404 | 405 | 408 | 409 | 413 | 422 | 429 | 500 | 502 | 503,
    readonly type: ApiErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    /** Extra fields for the error object (e.g. the policy rule that matched). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Response headers that belong to this error (e.g. Retry-After). */
  headers: Record<string, string> = {};

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }

  withHeaders(headers: Record<string, string>): this {
    Object.assign(this.headers, headers);
    return this;
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code, ...this.extra } };
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null; [extra: string]: unknown };
}

export const invalidRequest = (param: string | null, message: string, code = 'invalid_argument') =>
  new ApiError(400, 'invalid_request_error', code, message, param);
export const notFound = (param: string | null, message: string, code = 'not_found') =>
  new ApiError(404, 'not_found_error', code, message, param);
