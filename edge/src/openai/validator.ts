import { zValidator } from '@hono/zod-validator';
import type { ZodType } from 'zod';
import { invalidRequest } from '../errors/api-error';
import { firstIssue } from '../../../shared/errors';

/** zValidator whose failures are OpenAI-shaped 400s naming the first bad field. */
export const validate = <T extends ZodType, Target extends 'json' | 'param' | 'query'>(target: Target, schema: T) =>
  zValidator(target, schema, (result) => {
    if (!result.success) {
      const { field, text } = firstIssue(result.error);
      throw invalidRequest(field, text);
    }
  });
