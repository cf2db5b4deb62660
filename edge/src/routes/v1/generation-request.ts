import { parseGenerateOptions, stepsFor } from '../../../../shared/ssd2/options';
import { privateContextPrefix } from '../../../../shared/prompt/instruction';
import { AuthStore } from '../../auth/store';
import type { Env, Principal } from '../../env';
import { invalidRequest } from '../../errors/api-error';
import { findModel, type ServedModel } from '../../models/catalog';
import type { SSD2Fields } from '../../openai/schemas';
import { enforcePolicy } from '../../policy/policy';
import type { GenerationSpec } from '../../generation/spec';
import { resolveUserModel } from '../../user-models/resolve';

/** The request fields every generation route shares (OpenAI's plus the SSD-2 extensions). */
export interface GenerationFields extends SSD2Fields {
  model: string;
  max_tokens?: number | null;
  n?: number | null;
  seed?: number | null;
  top_p?: number | null;
  temperature?: number | null;
  stop?: string | string[] | null;
  generation_id?: string;
}

const DEFAULT_CLIENT_DEADLINE_MS = 5_000;
/** MAX_STEPS_PER_CALL's default: e.g. 500 blocks of 100 steps. */
const DEFAULT_MAX_STEPS_PER_CALL = 50_000;
const DEFAULT_JOIN_TIMEOUT_MS = 30_000;

export interface PreparedGeneration {
  spec: GenerationSpec;
  model: ServedModel;
  stop: string[];
  /** The tenant policy's concurrent generations per key, when it sets one. */
  concurrencyLimit?: number;
}

/**
 * Everything between a validated request body and a Generation: model lookup, tokenization,
 * the tenant's prompt policy (a blocked prompt stops here, before any GPU work), mode choice and
 * the engine's own option checks.
 */
export async function prepareGeneration(
  env: Env,
  principal: Principal,
  body: GenerationFields,
  /** The prompt's text, or the model's token ids. */
  promptInput: string | readonly number[],
  promptParam: string,
  defaultMaxTokens: number,
): Promise<PreparedGeneration> {
  const model = await findModel(env, principal.tenantId, body.model);
  const codec = model.codec();
  let prompt: number[];
  let promptText: string;
  if (typeof promptInput === 'string') {
    promptText = promptInput;
    prompt = codec.encode(promptText);
  } else {
    const outside = promptInput.find((id) => id >= codec.vocabSize);
    if (outside !== undefined)
      throw invalidRequest(promptParam, `token id ${outside} is outside ${model.id}'s vocabulary [0, ${codec.vocabSize})`);
    prompt = [...promptInput];
    promptText = codec.decode(prompt);
  }
  const tenant = await new AuthStore(env.DB).getTenant(principal.tenantId);
  enforcePolicy(tenant?.policy ?? {}, { text: promptText, tokens: prompt }, promptParam);

  if (prompt.length > model.maxContext)
    throw invalidRequest(
      promptParam,
      `the prompt has ${prompt.length} tokens; ${model.id} reads at most ${model.maxContext}`,
      'context_length_exceeded',
    );
  if (body.block_size !== undefined && body.block_size > model.blockSize)
    throw invalidRequest('block_size', `block_size ${body.block_size} exceeds ${model.id}'s block size ${model.blockSize}`);
  const n = body.n ?? 1;
  if (n > 1 && body.client_model) throw invalidRequest('n', 'a client model joins one generation: n must be 1 with client_model');
  if (body.client_model && body.user_model)
    throw invalidRequest('user_model', 'give either user_model (run on the GPU worker) or client_model (run by the caller), not both');
  if (body.client_model && body.mode === 'fused')
    throw invalidRequest('mode', 'a client model needs per_step mode (the edge mixes every step)');
  if (body.user_model && body.mode === 'per_step')
    throw invalidRequest('mode', 'user_model runs in fused mode; per-step collaboration is for client models');
  if (body.private_context !== undefined && !body.user_model) {
    throw invalidRequest(
      'private_context',
      body.client_model
        ? 'with a client model the private context stays on the client: give it to the client SDK, not the API'
        : 'private_context needs a user_model',
    );
  }
  if (body.generation_id !== undefined && !body.client_model)
    throw invalidRequest('generation_id', 'generation_id is for generations a client model joins (client_model)');
  if (body.client_model && body.generation_id === undefined)
    throw invalidRequest(
      'generation_id',
      'a client model joins a reserved generation: create one with POST /v1/generations, join its WebSocket, then pass its id as generation_id',
    );
  if (body.lambda !== undefined && !body.user_model && !body.client_model)
    throw invalidRequest('lambda', 'lambda weighs a user model: give user_model (or client_model) with it');
  if (body.progress && !body.client_model && body.mode !== 'per_step')
    throw invalidRequest('progress', 'progress events come from per-step mode: add "mode": "per_step"');

  const parsed = parseGenerateOptions({
    steps: body.steps,
    maxTokens: body.max_tokens ?? defaultMaxTokens,
    blockSize: body.block_size,
    // top_p 0 keeps only the most probable token: greedy (sent as such, which every worker reads).
    projection: body.top_p === 0 ? 'greedy' : body.projection,
    topP: body.top_p === 0 ? undefined : (body.top_p ?? undefined),
    temperature: body.temperature ?? undefined,
    seed: body.seed ?? randomSeed(),
    lambda: body.lambda,
    earlyStopPatience: body.early_stop,
    earlyStopConfidence: body.early_stop_confidence,
    commitConfidence: body.commit_confidence,
    minTokens: body.min_tokens,
  });
  // An absent `steps` follows the model's block size; the spec carries the number, so the worker,
  // the budget reservation and the price all use the same one.
  const options = { ...parsed, steps: stepsFor(parsed, model) };
  if (Array.isArray(options.lambda) && options.lambda.length !== options.steps)
    throw invalidRequest('lambda', `a per-step lambda needs ${options.steps} values (one per step), got ${options.lambda.length}`);
  // The most GPU work the call can ask for, bounded before any of it runs.
  const blocks = Math.ceil(options.maxTokens / (options.blockSize ?? model.blockSize));
  const ceiling = tenant?.policy.max_steps_per_call ?? (Number(env.MAX_STEPS_PER_CALL) || DEFAULT_MAX_STEPS_PER_CALL);
  if (options.steps * blocks * n > ceiling) {
    throw invalidRequest(
      body.max_tokens ? 'max_tokens' : 'steps',
      `${options.steps} steps x ${blocks} blocks of ${options.blockSize ?? model.blockSize} tokens${n > 1 ? ` x ${n} choices` : ''} = ` +
        `${options.steps * blocks * n} denoising steps, above this tenant's limit of ${ceiling} per call; ask for fewer steps or tokens`,
      'work_limit_exceeded',
    );
  }

  const mode = body.client_model ? 'per_step' : (body.mode ?? 'fused');
  const userModel = body.user_model ? await resolveUserModel(env.DB, principal.tenantId, body.user_model, model) : undefined;
  const spec: GenerationSpec = {
    tenantId: principal.tenantId,
    keyId: principal.keyId,
    modelId: model.id,
    model: model.ref,
    prompt,
    ...(userModel
      ? {
          userModel: userModel.bundle,
          userModelId: userModel.id,
          userContext: body.private_context ? codec.encode(privateContextPrefix(body.private_context)) : [],
        }
      : {}),
    options,
    mode,
    ...(body.client_model
      ? {
          client: {
            deadlineMs: body.client_model.deadline_ms ?? (Number(env.CLIENT_STEP_DEADLINE_MS) || DEFAULT_CLIENT_DEADLINE_MS),
            onTimeout: body.client_model.on_timeout ?? 'fail',
            joinTimeoutMs: body.client_model.join_timeout_ms ?? DEFAULT_JOIN_TIMEOUT_MS,
          },
        }
      : {}),
    progress: body.progress ?? false,
  };
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  return { spec, model, stop, concurrencyLimit: tenant?.policy.max_concurrent_generations };
}

function randomSeed(): number {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return (hi & 0x1fffff) * 2 ** 32 + lo;
}
