import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { maxCostMicroUsd, priceTable } from '../../billing/prices';
import type { AppEnv, Env } from '../../env';
import { ApiError, notFound } from '../../errors/api-error';
import { ndjsonLines } from '../../../../shared/streams';
import type { GenerationStreamEvent } from '../../generation/spec';
import { chunkBody, completionBody, finishReasonOf, type FinishReason, type ResponseKind } from '../../openai/response-body';
import { withText } from '../../openai/text-stream';
import { TextAccumulator } from '../../../../shared/tokenizer/text-accumulator';
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
    steps: stepsFor(spec.options, model),
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

/** The generation's Durable Object, started, with its first event read (a refusal is thrown here, before any header). */
async function startGeneration(
  c: Context<AppEnv>,
  prepared: PreparedGeneration,
  kind: ResponseKind,
  opts: RunOptions,
  release: () => Promise<void>,
): Promise<Response> {
  const { spec } = prepared;
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
  const delivered: Delivered = { blocks: 0, tokens: 0, stepsRun: 0, stepsSaved: 0 };
  // A caller that goes away before its answer is out (a JSON body, or a stream's headers): charged
  // for the blocks finished until then, and the generation is cancelled. A stream's own abort
  // handling takes over once it has started.
  const signal = c.req.raw.signal;
  const disconnected = () =>
    c.executionCtx.waitUntil(
      (async () => {
        await meter?.partial(delivered, 'client_disconnected', Date.now() - startedAt);
        await stub.cancel(spec.tenantId);
        await release();
      })(),
    );
  signal.addEventListener('abort', disconnected, { once: true });
  try {
    const res = await stub.fetch('https://generation/run', { method: 'POST', body: JSON.stringify(spec) });
    // A caller gone before the generation was claimed: that cancel found nothing to end; this one does.
    if (signal.aborted) await stub.cancel(spec.tenantId);
    if (!res.ok) throw errorFrom((await res.json()) as Extract<GenerationStreamEvent, { type: 'error' }>);
    const events = ndjsonLines(res.body!) as AsyncGenerator<GenerationStreamEvent>;
    const first = await events.next();
    if (!first.done && first.value.type === 'error') throw errorFrom(first.value);
    c.header('x-ssd2-generation-id', generationId);

    const source = first.done ? events : prepend(first.value, events);
    const answer = new GenerationAnswer(c, prepared, kind, { generationId, startedAt, delivered }, source, () =>
      stub.stopped(spec.tenantId),
    );
    if (!opts.stream) return await answer.json(budget);
    return answer.sse(
      opts.includeUsage,
      () => {
        void events.return(undefined);
        c.executionCtx.waitUntil(release());
      },
      release,
    );
  } finally {
    signal.removeEventListener('abort', disconnected);
  }
}

/**
 * One started generation's answer in OpenAI's shape: its events become one JSON body or SSE
 * chunks, the finished blocks handed over are counted (what a generation the caller ends is
 * charged for), and the usage record is written before the body or the finish chunk.
 */
class GenerationAnswer {
  private readonly id: string;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly text: TextAccumulator;
  private readonly ssd2Base: Record<string, unknown>;
  private readonly startedAt: number;
  /** The finished blocks handed to the caller (what a generation the caller ends is charged for). */
  private readonly delivered: Delivered;

  constructor(
    private readonly c: Context<AppEnv>,
    private readonly prepared: PreparedGeneration,
    private readonly kind: ResponseKind,
    { generationId, startedAt, delivered }: { generationId: string; startedAt: number; delivered: Delivered },
    private readonly source: AsyncIterable<GenerationStreamEvent>,
    /** Tells the generation a stop sequence ended it (before its stream is closed). */
    private readonly onStop: () => Promise<void>,
  ) {
    this.id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${generationId}`;
    this.startedAt = startedAt;
    this.delivered = delivered;
    const codec = prepared.model.codec();
    this.text = new TextAccumulator((ids) => codec.decode(ids), prepared.stop, kind === 'chat');
    this.ssd2Base = { generation_id: generationId, seed: prepared.spec.options.seed, mode: prepared.spec.mode };
  }

  private get meter() {
    return this.c.var.meter;
  }

  private elapsed(): number {
    return Date.now() - this.startedAt;
  }

  /** The events with each block's text, up to a stop sequence, counting the finished blocks handed to the caller. */
  private async *events() {
    for await (const e of withText(this.source, this.text, this.delivered)) {
      if (e.type === 'done' && e.finishReason === 'stop') await this.onStop();
      yield e;
    }
  }

  /** An error event's record: charged for what was delivered when the caller caused it, else free. */
  private ended(error: { code?: string | null; param?: string | null }) {
    return callerCaused(error)
      ? this.meter?.partial(this.delivered, error.code ?? 'error', this.elapsed())
      : this.meter?.fail('failed', error.code ?? null, this.elapsed());
  }

  private chunk(delta: string | null, finishReason: FinishReason | null, extra: Record<string, unknown> = {}, first = false) {
    return chunkBody({
      kind: this.kind,
      id: this.id,
      created: this.created,
      model: this.prepared.model.id,
      delta,
      finishReason,
      first,
      extra,
    });
  }

  /** The whole answer as one body, after the last event. */
  async json(budget: Parameters<typeof budgetHeaders>[0]): Promise<Response> {
    const { c, text, prepared } = this;
    let done: Extract<GenerationStreamEvent, { type: 'done' }> | null = null;
    for await (const e of this.events()) {
      if (e.type === 'error') {
        await this.ended(e.error);
        throw errorFrom(e);
      }
      if (e.type === 'done') done = e;
    }
    if (!done) throw new ApiError(502, 'api_error', 'generation_incomplete', 'the generation ended without a result');
    const record = await this.meter?.complete(done, this.elapsed());
    if (record) {
      for (const [name, value] of Object.entries(budgetHeaders(budget, record.costMicroUsd))) c.header(name, value);
      c.header('x-ssd2-cost-usd', (record.costMicroUsd / 1e6).toFixed(6));
    }
    return c.json(
      completionBody({
        kind: this.kind,
        id: this.id,
        created: this.created,
        model: prepared.model.id,
        text: text.text,
        finishReason: finishReasonOf(done),
        promptTokens: prepared.spec.prompt.length,
        done,
        ssd2: this.ssd2Base,
      }),
    );
  }

  /** SSE: one chunk per finished block (and per step with progress), the finish chunk, usage when asked, [DONE]. */
  sse(includeUsage: boolean, onAbort: () => void, release: () => Promise<void>): Response {
    const { c, kind, ssd2Base } = this;
    const meter = this.meter;
    const promptTokens = this.prepared.spec.prompt.length;
    if (meter) meter.streaming = true;
    return streamSSE(c, async (stream) => {
      let firstChunk = true;
      stream.onAbort(() => {
        onAbort();
        // The caller went away after GPU work ran: charged for the blocks it was sent.
        c.executionCtx.waitUntil(meter?.partial(this.delivered, 'client_disconnected', this.elapsed()) ?? Promise.resolve());
      });
      try {
        for await (const e of this.events()) {
          if (stream.aborted) return;
          if (e.type === 'error') {
            await this.ended(e.error);
            await stream.writeSSE({ data: JSON.stringify({ error: e.error }) });
            return;
          }
          if (e.type === 'step') {
            await stream.writeSSE({
              data: JSON.stringify(this.chunk(kind === 'chat' ? null : '', null, { ssd2: { ...ssd2Base, progress: e } })),
            });
          } else if (e.type === 'block') {
            await stream.writeSSE({
              data: JSON.stringify(
                this.chunk(
                  e.delta,
                  null,
                  { ssd2: { ...ssd2Base, block: e.block, steps_run: e.stepsRun, steps_saved: e.stepsSaved } },
                  firstChunk,
                ),
              ),
            });
            firstChunk = false;
          } else if (e.type === 'done') {
            if (e.delta) await stream.writeSSE({ data: JSON.stringify(this.chunk(e.delta, null, { ssd2: ssd2Base }, firstChunk)) });
            const record = await meter?.complete(e, this.elapsed());
            const cost = record ? { cost_usd: record.costMicroUsd / 1e6 } : {};
            await stream.writeSSE({
              data: JSON.stringify(
                this.chunk(null, finishReasonOf(e), {
                  ssd2: {
                    ...ssd2Base,
                    blocks: e.blocks,
                    steps_run: e.stepsRun,
                    steps_saved: e.stepsSaved,
                    finish_reason: e.finishReason,
                    ...cost,
                  },
                }),
              ),
            });
            if (includeUsage) {
              const usage = {
                prompt_tokens: promptTokens,
                completion_tokens: e.tokens.length,
                total_tokens: promptTokens + e.tokens.length,
              };
              await stream.writeSSE({ data: JSON.stringify({ ...this.chunk(null, null), choices: [], usage }) });
            }
            await stream.writeSSE({ data: '[DONE]' });
            return;
          }
        }
        await meter?.fail('failed', 'generation_incomplete', this.elapsed());
      } catch (err) {
        await meter?.fail('failed', err instanceof ApiError ? err.code : 'internal', this.elapsed());
        throw err;
      } finally {
        await release();
      }
    });
  }
}
