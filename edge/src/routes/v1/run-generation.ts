import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { maxCostMicroUsd, priceTable } from '../../billing/prices';
import type { AppEnv, Env } from '../../env';
import { ApiError, notFound } from '../../errors/api-error';
import { ndjsonLines } from '../../../../shared/streams';
import type { GenerationStreamEvent } from '../../generation/spec';
import { chunkBody, completionBody, finishReasonOf, type FinishReason, type ResponseKind } from '../../openai/response-body';
import { TextAccumulator } from '../../openai/text-stream';
import { budgetHeaders, reserveBudget } from '../../quota';
import { callerCaused, type Delivered } from '../../metering/meter';
import { takeGenerationSlot } from '../../rate-limit';
import { newId } from '../../auth/keys';
import type { PreparedGeneration } from './generation-request';
import { stepsFor } from '../../../../shared/ssd2/options';

export type { ResponseKind } from '../../openai/response-body';

/** Resolves a generation id to its Durable Object; 404 for anything that is not one. */
export function generationStub(env: Env, id: string): DurableObjectStub<import('../../generation/generation-do').Generation> {
  let doId: DurableObjectId;
  try {
    doId = env.GENERATIONS.idFromString(id);
  } catch {
    throw notFound('generation_id', `no generation ${id}`, 'generation_not_found');
  }
  return env.GENERATIONS.get(doId);
}

const errorFrom = (e: Extract<GenerationStreamEvent, { type: 'error' }>) =>
  new ApiError(
    e.status as ApiError['status'],
    e.error.type as ApiError['type'],
    e.error.code ?? 'error',
    e.error.message,
    e.error.param,
    Object.fromEntries(Object.entries(e.error).filter(([k]) => !['message', 'type', 'param', 'code'].includes(k))),
  );

async function* prepend<T>(head: T, rest: AsyncIterable<T>): AsyncGenerator<T> {
  yield head;
  yield* rest;
}

/** The most this prepared generation can cost (every step of every block, max_tokens of output). */
export function preparedMaxCost(env: Env, prepared: PreparedGeneration, batch: boolean): number {
  const { spec, model } = prepared;
  return maxCostMicroUsd(priceTable(env.PRICES), {
    model: spec.modelId,
    promptTokens: spec.prompt.length,
    maxTokens: spec.options.maxTokens,
    steps: stepsFor(spec.options, model.blockSize),
    blockSize: spec.options.blockSize ?? model.blockSize,
    batch,
  });
}

/**
 * Starts the generation in its Durable Object and answers in OpenAI's shape: SSE chunks (one per
 * finished block) or one JSON body. The call's worst-case cost is reserved first (nothing
 * reaches a GPU worker for a call that could pass a budget). The first event is awaited before any header is sent, so a
 * request the engine or a worker rejects still gets a proper 4xx status. The call's usage record
 * is written before the JSON body, or before a stream's finish chunk (or its error event).
 */
export async function runGeneration(
  c: Context<AppEnv>,
  prepared: PreparedGeneration,
  kind: ResponseKind,
  opts: RunOptions,
): Promise<Response> {
  // One of the key's concurrent-generation slots (429 when all are taken), held until the
  // generation ends, however it ends.
  const release = await takeGenerationSlot(c.env, c.var.principal, prepared.concurrencyLimit, c.var.meter?.requestId ?? newId('gen'));
  try {
    const res = await startGeneration(c, prepared, kind, opts, release);
    if (!opts.stream) await release();
    return res;
  } catch (err) {
    await release();
    throw err;
  }
}

interface RunOptions {
  stream: boolean;
  includeUsage: boolean;
  generationId?: string;
}

async function startGeneration(
  c: Context<AppEnv>,
  prepared: PreparedGeneration,
  kind: ResponseKind,
  opts: RunOptions,
  release: () => Promise<void>,
): Promise<Response> {
  const { spec, model } = prepared;
  const meter = c.var.meter;
  meter?.setSpec(spec);
  // Reserved, not just checked: concurrent calls cannot together pass a budget. The usage record
  // (meter) settles the reservation to the actual cost, whatever way the call ends.
  const budget = await reserveBudget(
    c.env.DB,
    { id: meter?.requestId ?? newId('req'), keyId: spec.keyId },
    preparedMaxCost(c.env, prepared, false),
  );
  for (const [name, value] of Object.entries(budgetHeaders(budget))) c.header(name, value);

  const startedAt = Date.now();
  const stub = opts.generationId ? generationStub(c.env, opts.generationId) : c.env.GENERATIONS.get(c.env.GENERATIONS.newUniqueId());
  const generationId = opts.generationId ?? stub.id.toString();
  const res = await stub.fetch('https://generation/run', { method: 'POST', body: JSON.stringify(spec) });
  if (!res.ok) throw errorFrom((await res.json()) as Extract<GenerationStreamEvent, { type: 'error' }>);
  const events = ndjsonLines(res.body!) as AsyncGenerator<GenerationStreamEvent>;
  const first = await events.next();
  if (!first.done && first.value.type === 'error') throw errorFrom(first.value);

  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${generationId}`;
  const created = Math.floor(Date.now() / 1000);
  const codec = model.codec();
  const text = new TextAccumulator((ids) => codec.decode(ids), prepared.stop);
  const ssd2Base = { generation_id: generationId, seed: spec.options.seed, mode: spec.mode };
  const usage = (completionTokens: number) => ({
    prompt_tokens: spec.prompt.length,
    completion_tokens: completionTokens,
    total_tokens: spec.prompt.length + completionTokens,
  });
  c.header('x-ssd2-generation-id', generationId);

  // Finished blocks handed to the caller so far: what a generation the caller ends is charged for.
  const delivered: Delivered = { blocks: 0, tokens: 0, stepsRun: 0, stepsSaved: 0 };
  async function* all(): AsyncGenerator<GenerationStreamEvent> {
    for await (const e of first.done ? events : prepend(first.value, events)) {
      if (e.type === 'block') {
        delivered.blocks++;
        delivered.tokens += e.tokens.length;
        delivered.stepsRun += e.stepsRun;
        delivered.stepsSaved += e.stepsSaved;
      }
      yield e;
    }
  }
  /** An error event's record: charged for what was delivered when the caller caused it, else free. */
  const ended = (error: { code?: string | null; param?: string | null }) =>
    callerCaused(error)
      ? meter?.partial(delivered, error.code ?? 'error', Date.now() - startedAt)
      : meter?.fail('failed', error.code ?? null, Date.now() - startedAt);

  if (!opts.stream) {
    let done: Extract<GenerationStreamEvent, { type: 'done' }> | null = null;
    for await (const e of all()) {
      if (e.type === 'error') {
        await ended(e.error);
        throw errorFrom(e);
      }
      if (e.type === 'block') text.push(e.tokens);
      if (e.type === 'done') done = e;
    }
    if (!done) throw new ApiError(502, 'api_error', 'generation_incomplete', 'the generation ended without a result');
    const record = await meter?.complete(done, Date.now() - startedAt);
    if (record) {
      for (const [name, value] of Object.entries(budgetHeaders(budget, record.costMicroUsd))) c.header(name, value);
      c.header('x-ssd2-cost-usd', (record.costMicroUsd / 1e6).toFixed(6));
    }
    return c.json(
      completionBody({
        kind,
        id,
        created,
        model: model.id,
        text: text.text,
        finishReason: finishReasonOf(done, text.stopped),
        promptTokens: spec.prompt.length,
        done,
        ssd2: ssd2Base,
      }),
    );
  }

  const chunk = (delta: string | null, finishReason: FinishReason | null, extra: Record<string, unknown> = {}, first = false) =>
    chunkBody({ kind, id, created, model: model.id, delta, finishReason, first, extra });

  if (meter) meter.streaming = true;
  return streamSSE(c, async (stream) => {
    let firstChunk = true;
    stream.onAbort(() => {
      void events.return(undefined);
      c.executionCtx.waitUntil(release());
      // The caller went away after GPU work ran: charged for the blocks it was sent.
      c.executionCtx.waitUntil(meter?.partial(delivered, 'client_disconnected', Date.now() - startedAt) ?? Promise.resolve());
    });
    try {
      for await (const e of all()) {
        if (stream.aborted) return;
        if (e.type === 'error') {
          await ended(e.error);
          await stream.writeSSE({ data: JSON.stringify({ error: e.error }) });
          return;
        }
        if (e.type === 'step') {
          await stream.writeSSE({ data: JSON.stringify(chunk(kind === 'chat' ? null : '', null, { ssd2: { ...ssd2Base, progress: e } })) });
        } else if (e.type === 'block') {
          const delta = text.push(e.tokens);
          await stream.writeSSE({
            data: JSON.stringify(
              chunk(delta, null, { ssd2: { ...ssd2Base, block: e.block, steps_run: e.stepsRun, steps_saved: e.stepsSaved } }, firstChunk),
            ),
          });
          firstChunk = false;
        } else if (e.type === 'done') {
          const record = await meter?.complete(e, Date.now() - startedAt);
          const cost = record ? { cost_usd: record.costMicroUsd / 1e6 } : {};
          await stream.writeSSE({
            data: JSON.stringify(
              chunk(null, finishReasonOf(e, text.stopped), {
                ssd2: { ...ssd2Base, blocks: e.blocks, steps_run: e.stepsRun, steps_saved: e.stepsSaved, ...cost },
              }),
            ),
          });
          if (opts.includeUsage)
            await stream.writeSSE({ data: JSON.stringify({ ...chunk(null, null), choices: [], usage: usage(e.tokens.length) }) });
          await stream.writeSSE({ data: '[DONE]' });
          return;
        }
      }
      await meter?.fail('failed', 'generation_incomplete', Date.now() - startedAt);
    } catch (err) {
      await meter?.fail('failed', err instanceof ApiError ? err.code : 'internal', Date.now() - startedAt);
      throw err;
    } finally {
      await release();
    }
  });
}
