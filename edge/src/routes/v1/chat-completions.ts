import { Hono } from 'hono';
import type { AppEnv } from '../../env';
import { requireScope } from '../../auth';
import { idempotency } from '../../idempotency';
import { chatPrompt } from '../../openai/chat-prompt';
import { ChatCompletionRequestSchema } from '../../openai/schemas';
import { validate } from '../../openai/validator';
import { prepareGeneration } from './generation-request';
import { runGeneration } from './run-generation';

const DEFAULT_MAX_TOKENS = 64;

/** POST /v1/chat/completions: messages become the core model's instruction prompt. */
export const chatCompletions = new Hono<AppEnv>().post(
  '/',
  requireScope('generate'),
  idempotency(),
  validate('json', ChatCompletionRequestSchema),
  async (c) => {
    const body = c.req.valid('json');
    c.var.meter?.setModelHint(body.model);
    const prepared = await prepareGeneration(
      c.env,
      c.var.principal,
      { ...body, max_tokens: body.max_completion_tokens ?? body.max_tokens },
      chatPrompt(body.messages),
      'messages',
      DEFAULT_MAX_TOKENS,
    );
    return runGeneration(c, prepared, 'chat', {
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
      generationId: body.generation_id,
      n: body.n ?? 1,
    });
  },
);
