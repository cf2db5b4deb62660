import { Hono } from 'hono';
import type { AppEnv } from '../../env';
import { requireScope } from '../../auth';
import { idempotency } from '../../idempotency';
import { CompletionRequestSchema, completionPrompt } from '../../openai/schemas';
import { validate } from '../../openai/validator';
import { prepareGeneration } from './generation-request';
import { runGeneration } from './run-generation';

/** OpenAI's default max_tokens for completions. */
const DEFAULT_MAX_TOKENS = 16;

/** POST /v1/completions */
export const completions = new Hono<AppEnv>().post(
  '/',
  requireScope('generate'),
  idempotency(),
  validate('json', CompletionRequestSchema),
  async (c) => {
    const body = c.req.valid('json');
    c.var.meter?.setModelHint(body.model);
    const prepared = await prepareGeneration(c.env, c.var.principal, body, completionPrompt(body.prompt), 'prompt', DEFAULT_MAX_TOKENS);
    return runGeneration(c, prepared, 'completion', {
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
      generationId: body.generation_id,
      n: body.n ?? 1,
    });
  },
);
