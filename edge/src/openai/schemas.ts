import { z } from 'zod';

/** Limits the edge sets for one request (the model's own limits are checked by the engine). */
const LIMITS = {
  maxTokens: 4096,
  steps: 1000,
  promptChars: 100_000,
  privateContextChars: 100_000,
  clientDeadlineMs: 60_000,
  choices: 8,
} as const;

const lambdaValue = z.number().min(0).max(1);

/** SSD-2 options, as extension fields beside OpenAI's own. */
const ssd2Fields = {
  /** Denoising steps per block; absent: `defaultStepsFor` the model (two per token of the block, at least 10; (B − 1) · stride + window when staggered). */
  steps: z.number().int().min(1).max(LIMITS.steps).optional(),
  block_size: z.number().int().min(1).max(1024).optional(),
  /** Steps of unchanged argmax that end a block early; 0 runs every step. */
  early_stop: z.number().int().min(0).max(LIMITS.steps).optional(),
  /** Early stopping counts a step only when every position's top token has at least this probability (default 0.5). */
  early_stop_confidence: z.number().min(0).max(1).optional(),
  /** Staggered-block models: the leading noisy position is final once its top token has at least this probability (default 0.9). */
  commit_confidence: z.number().min(0).max(1).optional(),
  /** End-of-text is suppressed until this many tokens were generated (default 0). */
  min_tokens: z.number().int().min(0).max(LIMITS.maxTokens).optional(),
  projection: z.enum(['greedy', 'sample', 'multihot']).optional(),
  /** Weight of the user model: constant, one value per step, or a linear ramp. */
  lambda: z
    .union([lambdaValue, z.array(lambdaValue).min(1).max(LIMITS.steps), z.object({ start: lambdaValue, end: lambdaValue }).strict()])
    .optional(),
  /**
   * A user model of the caller's tenant, run on the GPU worker beside the core: an uploaded user
   * model (`name`, `name@version`) or a bundle path under the tenant's prefix.
   */
  user_model: z
    .string()
    .regex(/^[A-Za-z0-9._/@-]{1,256}$/, 'must be a user model name, name@version, or a bundle path ([A-Za-z0-9._/@-]{1,256})')
    .optional(),
  /** Text only the user model sees, in front of the prompt. Never sent toward the core model. */
  private_context: z.string().max(LIMITS.privateContextChars).optional(),
  /** `fused`: the GPU worker runs the block loop; `per_step`: the edge drives every step. Default: fused unless a client model joins. */
  mode: z.enum(['fused', 'per_step']).optional(),
  /** Stream a denoising-progress event per step (per-step mode) in the `ssd2` extension field. */
  progress: z.boolean().optional(),
  /** A client-side user model joins over the WebSocket of this generation (see docs/edge.md). */
  client_model: z
    .object({
      deadline_ms: z.number().int().min(1).max(LIMITS.clientDeadlineMs).optional(),
      on_timeout: z.enum(['core_only', 'fail']).optional(),
      join_timeout_ms: z.number().int().min(1).max(LIMITS.clientDeadlineMs).optional(),
    })
    .strict()
    .optional(),
  /** A generation created with POST /v1/generations that a client model has joined (or will join). */
  generation_id: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'not a generation id')
    .optional(),
};

/** OpenAI fields the API accepts; those without effect on SSD-2 are documented as ignored. */
const openAIFields = {
  model: z.string().min(1).max(256),
  max_tokens: z.number().int().min(1).max(LIMITS.maxTokens).nullish(),
  /** Choices: generations of the same request with seeds seed, seed + 1, … */
  n: z.number().int().min(1).max(LIMITS.choices).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  /** 0 keeps only the most probable token: greedy. */
  top_p: z.number().min(0).max(1).nullish(),
  /** The projection's nucleus is taken over logits / temperature (default 1); 0 decodes greedily. */
  temperature: z.number().min(0).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish(),
  user: z.string().max(256).nullish(),
  /** Refused unless empty: SSD-2 has no token-level bias hook. */
  logit_bias: z
    .record(z.string(), z.number())
    .refine((bias) => Object.keys(bias).length === 0, 'logit_bias is not supported by SSD-2 models')
    .nullish(),
};

const NO_LOGPROBS = 'logprobs are not supported by this API';

/** Chat fields for features SSD-2 models do not have: refused by name, so a caller never gets plain text where it asked for more. */
const noTools = 'function calling is not supported by SSD-2 models';
const unsupportedChatFields = {
  tools: z.array(z.unknown()).max(0, noTools).nullish(),
  functions: z.array(z.unknown()).max(0, noTools).nullish(),
  tool_choice: z.literal('none', { error: noTools }).nullish(),
  function_call: z.literal('none', { error: noTools }).nullish(),
  response_format: z
    .object({
      type: z.literal('text', {
        error: 'only response_format {"type": "text"} is supported: SSD-2 models do not constrain output to JSON',
      }),
    })
    .nullish(),
};

/** A prompt as the model's own token ids. */
const tokenIds = z.array(z.number().int().min(0)).max(LIMITS.promptChars);

/** stream_options is about a stream: refused without `stream: true`, as OpenAI does. */
const streamOptionsNeedStream = (body: { stream?: boolean | null; stream_options?: unknown }, ctx: z.RefinementCtx) => {
  if (body.stream_options != null && body.stream !== true)
    ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'stream_options is only allowed with "stream": true' });
};

export const CompletionRequestSchema = z
  .object({
    ...openAIFields,
    ...ssd2Fields,
    /** Text or the model's token ids; a list of one of either is the same prompt (several prompts in one request are not supported). */
    prompt: z.union([
      z.string().max(LIMITS.promptChars),
      z
        .array(z.union([z.string().max(LIMITS.promptChars), tokenIds, z.number().int().min(0)]))
        .max(LIMITS.promptChars)
        .refine(
          (p) => p.every((x) => typeof x === 'number') || (p.length === 1 && typeof p[0] !== 'number'),
          'only one prompt per request is supported: its text, its token ids, or a list of one of either',
        ),
    ]),
    logprobs: z.null({ error: NO_LOGPROBS }).optional(),
    echo: z.literal(false, { error: 'echo is not supported: the completion holds only the generated text' }).nullish(),
    suffix: z.null({ error: 'suffix (text after the insertion point) is not supported' }).optional(),
    best_of: z.literal(1, { error: 'only best_of = 1 is supported' }).nullish(),
  })
  .superRefine(streamOptionsNeedStream);

const textPart = z.object({
  type: z.literal('text', { error: 'only text content parts ({"type": "text", "text": ...}) are supported' }),
  text: z.string(),
});

export const ChatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(textPart)]).nullable(),
  name: z.string().optional(),
});

export const ChatCompletionRequestSchema = z
  .object({
    ...openAIFields,
    ...ssd2Fields,
    ...unsupportedChatFields,
    messages: z.array(ChatMessageSchema).min(1).max(256),
    max_completion_tokens: z.number().int().min(1).max(LIMITS.maxTokens).nullish(),
    logprobs: z.literal(false, { error: NO_LOGPROBS }).nullish(),
    top_logprobs: z.literal(0, { error: NO_LOGPROBS }).nullish(),
    modalities: z.array(z.literal('text', { error: 'only the text modality is supported' })).nullish(),
  })
  .superRefine(streamOptionsNeedStream);

export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;
export type ChatMessage = z.infer<typeof ChatMessageSchema>;
export type SSD2Fields = Pick<CompletionRequest, keyof typeof ssd2Fields>;

/** A completion request's one prompt: its text, or the model's token ids. */
export function completionPrompt(prompt: CompletionRequest['prompt']): string | number[] {
  if (typeof prompt === 'string') return prompt;
  const [first] = prompt;
  return typeof first === 'number' || first === undefined ? (prompt as number[]) : first;
}
