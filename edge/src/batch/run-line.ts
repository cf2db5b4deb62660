import { costMicroUsd, priceTable } from '../billing/prices';
import type { Env, Principal } from '../env';
import { ApiError } from '../errors/api-error';
import { runFused } from '../generation/fused';
import { parseWorkerUrls, WorkerPool, workerTimeoutMs } from '../generation/worker-pool';
import type { DoneEvent } from '../metering/usage-store';
import { chatPrompt } from '../openai/chat-prompt';
import { completionBody, finishReasonOf, type CompletionBody } from '../openai/response-body';
import { ChatCompletionRequestSchema, CompletionRequestSchema, completionPrompt } from '../openai/schemas';
import { withText } from '../openai/text-stream';
import { TextAccumulator } from '../../../shared/tokenizer/text-accumulator';
import { reserveBudget } from '../quota';
import { prepareGeneration, type PreparedGeneration } from '../routes/v1/generation-request';
import { preparedMaxCost } from '../routes/v1/run-generation';
import type { BatchMessage } from './messages';
import { lineRequestId } from './result-lines';

export interface LineSuccess {
  body: CompletionBody;
  done: DoneEvent;
  prepared: PreparedGeneration;
  costMicroUsd: number;
  workerMs: number;
}

/**
 * Runs one batch line the way the API would run it non-streamed, in fused mode, straight on the
 * GPU pool (no Durable Object: nothing joins a batch line). Throws ApiError-compatible errors;
 * `onPrepared` sees the spec before any GPU work (for metering a refusal).
 */
export async function runBatchLine(
  env: Env,
  principal: Principal,
  msg: BatchMessage,
  onPrepared: (p: PreparedGeneration) => void,
  signal?: AbortSignal,
): Promise<LineSuccess> {
  let prepared: PreparedGeneration;
  let kind: 'completion' | 'chat';
  if (msg.url === '/v1/completions') {
    const body = CompletionRequestSchema.parse(msg.body);
    prepared = await prepareGeneration(env, principal, { ...body, mode: 'fused' }, completionPrompt(body.prompt), 'prompt', 16);
    kind = 'completion';
  } else {
    const body = ChatCompletionRequestSchema.parse(msg.body);
    prepared = await prepareGeneration(
      env,
      principal,
      { ...body, mode: 'fused', max_tokens: body.max_completion_tokens ?? body.max_tokens },
      chatPrompt(body.messages),
      'messages',
      64,
    );
    kind = 'chat';
  }
  onPrepared(prepared);
  // Reserved under the line's usage record id; the consumer settles it with the line's outcome.
  await reserveBudget(env.DB, { id: lineRequestId(msg.batch_id, msg.line), keyId: principal.keyId }, preparedMaxCost(env, prepared, true));

  const { spec, model } = prepared;
  const started = Date.now();
  const pool = new WorkerPool(
    parseWorkerUrls(env.GPU_WORKERS),
    { secret: env.WORKER_AUTH_SECRET, tenant: spec.tenantId, timeoutMs: workerTimeoutMs(env) },
    undefined,
    undefined,
    signal,
  );
  const codec = model.codec();
  const text = new TextAccumulator((ids) => codec.decode(ids), prepared.stop, kind === 'chat');
  let done: DoneEvent | null = null;
  for await (const e of withText(runFused(pool, spec), text)) if (e.type === 'done') done = e;
  if (!done) throw new ApiError(502, 'api_error', 'generation_incomplete', 'the generation ended without a result');
  const workerMs = Date.now() - started;
  const cost = costMicroUsd(priceTable(env.PRICES), {
    model: spec.modelId,
    promptTokens: spec.prompt.length,
    completionTokens: done.tokens.length,
    stepsRun: done.stepsRun,
    batch: true,
  });
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${msg.batch_id}-${msg.line}`;
  const body = completionBody({
    kind,
    id,
    created: Math.floor(started / 1000),
    model: model.id,
    choices: [{ text: text.text, finishReason: finishReasonOf(done) }],
    promptTokens: spec.prompt.length,
    done,
    ssd2: { seed: spec.options.seed, mode: spec.mode },
  });
  return { body, done, prepared, costMicroUsd: cost, workerMs };
}
