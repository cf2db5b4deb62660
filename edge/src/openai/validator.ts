import { zValidator } from '@hono/zod-validator';
import type { MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import type { ZodType } from 'zod';
import { invalidRequest } from '../errors/api-error';
import { firstIssue } from '../../../shared/errors';

/**
 * A JSON body must say so: without `Content-Type: application/json` Hono reads no body, and the
 * caller would be told its first field is missing (curl's `-d` sends a form content type).
 */
const jsonContentType: MiddlewareHandler = async (c, next) => {
  const type = c.req.header('content-type') ?? '';
  // The media type Hono's JSON validator reads: application/json or application/<something>+json, parameters aside.
  if (!/^application\/([\w.-]+\+)?json$/.test(type.split(';')[0].trim().toLowerCase()))
    throw invalidRequest(
      null,
      `the body must be JSON sent with "Content-Type: application/json"${type ? ` (got "${type}")` : ' (none was sent)'}`,
      'invalid_content_type',
    );
  await next();
};

/** zValidator whose failures are OpenAI-shaped 400s naming the first bad field. */
export const validate = <T extends ZodType, Target extends 'json' | 'param' | 'query'>(target: Target, schema: T) => {
  const validator = zValidator(target, schema, (result) => {
    if (!result.success) {
      const { field, text } = firstIssue(result.error);
      throw invalidRequest(field, text);
    }
  });
  return target === 'json' ? (every(jsonContentType, validator) as typeof validator) : validator;
};
