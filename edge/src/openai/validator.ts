import { zValidator } from '@hono/zod-validator';
import type { ZodType } from 'zod';
import { invalidRequest } from '../errors/api-error';

/** zValidator whose failures are OpenAI-shaped 400s naming the first bad field. */
export const validate = <T extends ZodType, Target extends 'json' | 'param' | 'query'>(target: Target, schema: T) =>
  zValidator(target, schema, (result) => {
    if (!result.success) {
      const issue = result.error.issues[0];
      const param = issue.path.join('.') || null;
      throw invalidRequest(param, `${param ?? 'body'}: ${issue.message}`);
    }
  });
