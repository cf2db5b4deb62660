import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { maxCostMicroUsd, priceTable } from '../../billing/prices';
import type { AppEnv, Env } from '../../env';
import { ApiError, invalidRequest, notFound } from '../../errors/api-error';
import { ndjsonLines } from '../../../../shared/streams';
import type { GenerationStreamEvent } from '../../generation/spec';
import { chunkBody, completionBody, finishReasonOf, type FinishReason, type ResponseKind } from '../../openai/response-body';
import { withText } from '../../openai/text-stream';
import type { DoneEvent } from '../../../../shared/protocol';
import { TextAccumulator } from '../../../../shared/tokenizer/text-accumulator';
import { budgetHeaders, reserveBudget } from '../../quota';
import { callerCaused, type Delivered } from '../../metering/meter';
import { concurrencyLimit, takeGenerationSlot } from '../../rate-limit';
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
 * Starts the call's generations (one per choice, `n`) in their Durable Objects and answers in
 * OpenAI's shape: SSE chunks (one per finished block) or one JSON body. The call's worst-case cost
 * is reserved first (nothing reaches a GPU worker for a call that could pass a budget). The first
 * event of every choice is awaited before any header is sent, so a request the engine or a worker
 * rejects still gets a proper 4xx status. The call's one usage record (every choice's tokens and
 * steps) is written before the JSON body, or before a stream's last finish chunk (or its error event).
 */
export async function runGeneration(
  c: Context<AppEnv>,
  prepared: PreparedGeneration,
  kind: ResponseKind,
  opts: RunOptions,
): Promise<Response> {
  // One of the key's concurrent-generation slots per choice (429 when they are taken), held until
  // the generation ends, however it ends.
  const limit = concurrencyLimit(c.env, prepared.concurrencyLimit);
  if (opts.n > limit)
    throw invalidRequest(
      'n',
      `n ${opts.n} is above this API key's ${limit} concurrent generations (one per choice); ask for fewer choices`,
    );
  const requestId = c.var.meter?.requestId ?? newId('gen');
  const releases: (() => Promise<void>)[] = [];
  const release = async () => {
    await Promise.all(releases.map((r) => r()));
  };
  try {
    for (let i = 0; i < opts.n; i++)
      releases.push(await takeGenerationSlot(c.env, c.var.principal, prepared.concurrencyLimit, i === 0 ? requestId : `${requestId}:${i}`));
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
  /** Choices: generations of the same request with seeds seed, seed + 1, … */
  n: number;
}

/** The seed of choice `i`: the request's plus i, within the seeds the engine takes. */
const choiceSeed = (seed: number, i: number) => (seed + i) % (Number.MAX_SAFE_INTEGER + 1);

/** One choice's generation: its Durable Object and its events, the first already read. */
interface Choice {
  index: number;
  generationId: string;
  seed: number;
  stub: ReturnType<typeof generationStub>;
  events: AsyncGenerator<GenerationStreamEvent>;
  source: AsyncIterable<GenerationStreamEvent>;
}

/** The choices' Durable Objects, started, each with its first event read (a refusal is thrown here, before any header). */
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
    preparedMaxCost(c.env, prepared, false) * opts.n,
  );
  for (const [name, value] of Object.entries(budgetHeaders(budget))) c.header(name, value);

  const startedAt = Date.now();
  const stubs = Array.from({ length: opts.n }, (_, i) =>
    i === 0 && opts.generationId ? generationStub(c.env, opts.generationId) : c.env.GENERATIONS.get(c.env.GENERATIONS.newUniqueId()),
  );
  const cancelAll = () => Promise.all(stubs.map((stub) => stub.cancel(spec.tenantId)));
  const delivered: Delivered = { blocks: 0, tokens: 0, stepsRun: 0, stepsSaved: 0 };
  // A caller that goes away before its answer is out (a JSON body, or a stream's headers): charged
  // for the blocks finished until then, and the generations are cancelled. A stream's own abort
  // handling takes over once it has started.
  const signal = c.req.raw.signal;
  const disconnected = () =>
    c.executionCtx.waitUntil(
      (async () => {
        await meter?.partial(delivered, 'client_disconnected', Date.now() - startedAt);
        await cancelAll();
        await release();
      })(),
    );
  signal.addEventListener('abort', disconnected, { once: true });
  try {
    const started = await Promise.allSettled(
      stubs.map(async (stub, index): Promise<Choice> => {
        const seed = choiceSeed(spec.options.seed, index);
        const body = index === 0 ? spec : { ...spec, options: { ...spec.options, seed } };
        const res = await stub.fetch('https://generation/run', { method: 'POST', body: JSON.stringify(body) });
        // A caller gone before the generation was claimed: that cancel found nothing to end; this one does.
        if (signal.aborted) await stub.cancel(spec.tenantId);
        if (!res.ok) throw errorFrom((await res.json()) as Extract<GenerationStreamEvent, { type: 'error' }>);
        const events = ndjsonLines(res.body!) as AsyncGenerator<GenerationStreamEvent>;
        const first = await events.next();
        if (!first.done && first.value.type === 'error') throw errorFrom(first.value);
        const source = first.done ? events : prepend(first.value, events);
        return { index, generationId: stub.id.toString(), seed, stub, events, source };
      }),
    );
    const refused = started.find((r) => r.status === 'rejected');
    if (refused) {
      // One choice refused is the call refused: the others stop.
      await cancelAll();
      throw refused.reason;
    }
    const choices = started.map((r) => (r as PromiseFulfilledResult<Choice>).value);
    c.header('x-ssd2-generation-id', choices[0].generationId);

    const answer = new GenerationAnswer(c, prepared, kind, { startedAt, delivered }, choices);
    if (!opts.stream) return await answer.json(budget);
    return answer.sse(
      opts.includeUsage,
      () => {
        for (const ch of choices) void ch.events.return(undefined);
        c.executionCtx.waitUntil(release());
      },
      release,
    );
  } finally {
    signal.removeEventListener('abort', disconnected);
  }
}

/**
 * The events of several sources as they come, each with the index of its source. One source is
 * read as it is (a stream's cancel and a stop reach it as before).
 */
async function* tagged<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<[number, T]> {
  if (sources.length === 1) {
    for await (const e of sources[0]) yield [0, e];
    return;
  }
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<[number, IteratorResult<T>]>>();
  const pull = (i: number) =>
    pending.set(
      i,
      iterators[i].next().then((r): [number, IteratorResult<T>] => [i, r]),
    );
  iterators.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const [i, r] = await Promise.race(pending.values());
      pending.delete(i);
      if (r.done) continue;
      pull(i);
      yield [i, r.value];
    }
  } finally {
    // Left early (an error, the caller gone): the other sources are closed once they yield.
    for (const it of iterators) void it.return?.().catch(() => {});
  }
}

/** The whole call's done event: every choice's tokens, blocks and steps; the first choice's finish reason. */
function callDone(dones: readonly DoneEvent[]): DoneEvent {
  return {
    type: 'done',
    tokens: dones.flatMap((d) => d.tokens),
    finishReason: dones[0].finishReason,
    blocks: dones.reduce((a, d) => a + d.blocks, 0),
    stepsRun: dones.reduce((a, d) => a + d.stepsRun, 0),
    stepsSaved: dones.reduce((a, d) => a + d.stepsSaved, 0),
  };
}

/**
 * A started call's answer in OpenAI's shape: its choices' events become one JSON body or SSE
 * chunks, the finished blocks handed over are counted (what a generation the caller ends is
 * charged for), and the usage record is written before the body or the last finish chunk.
 */
class GenerationAnswer {
  private readonly id: string;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly texts: TextAccumulator[];
  private readonly startedAt: number;
  /** The finished blocks handed to the caller, every choice's (what a call the caller ends is charged for). */
  private readonly delivered: Delivered;

  constructor(
    private readonly c: Context<AppEnv>,
    private readonly prepared: PreparedGeneration,
    private readonly kind: ResponseKind,
    { startedAt, delivered }: { startedAt: number; delivered: Delivered },
    private readonly choices: readonly Choice[],
  ) {
    this.id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${choices[0].generationId}`;
    this.startedAt = startedAt;
    this.delivered = delivered;
    const codec = prepared.model.codec();
    this.texts = choices.map(() => new TextAccumulator((ids) => codec.decode(ids), prepared.stop, kind === 'chat'));
  }

  private get meter() {
    return this.c.var.meter;
  }

  private elapsed(): number {
    return Date.now() - this.startedAt;
  }

  /** The `ssd2` extension fields of a choice. */
  private ssd2Of(index: number): Record<string, unknown> {
    const ch = this.choices[index];
    return { generation_id: ch.generationId, seed: ch.seed, mode: this.prepared.spec.mode };
  }

  /** A choice's events with each block's text, up to a stop sequence, counting the finished blocks handed to the caller. */
  private async *choiceEvents(ch: Choice) {
    for await (const e of withText(ch.source, this.texts[ch.index], this.delivered)) {
      if (e.type === 'done' && e.finishReason === 'stop') await ch.stub.stopped(this.prepared.spec.tenantId);
      yield e;
    }
  }

  /** Every choice's events as they come, with the choice's index. */
  private events() {
    return tagged(this.choices.map((ch) => this.choiceEvents(ch)));
  }

  /** An error event's record: charged for what was delivered when the caller caused it, else free. */
  private ended(error: { code?: string | null; param?: string | null }) {
    return callerCaused(error)
      ? this.meter?.partial(this.delivered, error.code ?? 'error', this.elapsed())
      : this.meter?.fail('failed', error.code ?? null, this.elapsed(), this.delivered);
  }

  private chunk(
    index: number,
    delta: string | null,
    finishReason: FinishReason | null,
    extra: Record<string, unknown> = {},
    first = false,
  ) {
    return chunkBody({
      kind: this.kind,
      id: this.id,
      created: this.created,
      model: this.prepared.model.id,
      delta,
      finishReason,
      index,
      first,
      extra,
    });
  }

  /** The `ssd2` of a finished choice. */
  private finishedSsd2(index: number, done: DoneEvent): Record<string, unknown> {
    return {
      ...this.ssd2Of(index),
      blocks: done.blocks,
      steps_run: done.stepsRun,
      steps_saved: done.stepsSaved,
      finish_reason: done.finishReason,
    };
  }

  /** The whole answer as one body, after the last event of every choice. */
  async json(budget: Parameters<typeof budgetHeaders>[0]): Promise<Response> {
    const { c, prepared } = this;
    const dones: DoneEvent[] = [];
    for await (const [i, e] of this.events()) {
      if (e.type === 'error') {
        await this.ended(e.error);
        throw errorFrom(e);
      }
      if (e.type === 'done') dones[i] = e;
    }
    if (this.choices.some((ch) => !dones[ch.index]))
      throw new ApiError(502, 'api_error', 'generation_incomplete', 'the generation ended without a result');
    const done = callDone(dones);
    const record = await this.meter?.complete(done, this.elapsed());
    if (record) {
      for (const [name, value] of Object.entries(budgetHeaders(budget, record.costMicroUsd))) c.header(name, value);
      c.header('x-ssd2-cost-usd', (record.costMicroUsd / 1e6).toFixed(6));
    }
    const several = this.choices.length > 1 ? { choices: dones.map((d, i) => ({ index: i, ...this.finishedSsd2(i, d) })) } : {};
    return c.json(
      completionBody({
        kind: this.kind,
        id: this.id,
        created: this.created,
        model: prepared.model.id,
        choices: dones.map((d, i) => ({ text: this.texts[i].text, finishReason: finishReasonOf(d) })),
        promptTokens: prepared.spec.prompt.length,
        done,
        ssd2: { ...this.ssd2Of(0), ...several },
      }),
    );
  }

  /**
   * SSE: one chunk per finished block of each choice (and per step with progress), each choice's
   * finish chunk, usage when asked, [DONE].
   */
  sse(includeUsage: boolean, onAbort: () => void, release: () => Promise<void>): Response {
    const { c, kind } = this;
    const meter = this.meter;
    const promptTokens = this.prepared.spec.prompt.length;
    if (meter) meter.streaming = true;
    return streamSSE(c, async (stream) => {
      const first = this.choices.map(() => true);
      const dones: DoneEvent[] = [];
      stream.onAbort(() => {
        onAbort();
        // The caller went away after GPU work ran: charged for the blocks it was sent.
        c.executionCtx.waitUntil(meter?.partial(this.delivered, 'client_disconnected', this.elapsed()) ?? Promise.resolve());
      });
      const write = (body: unknown) => stream.writeSSE({ data: JSON.stringify(body) });
      try {
        for await (const [i, e] of this.events()) {
          if (stream.aborted) return;
          if (e.type === 'error') {
            await this.ended(e.error);
            await write({ error: e.error });
            return;
          }
          if (e.type === 'step') {
            await write(this.chunk(i, kind === 'chat' ? null : '', null, { ssd2: { ...this.ssd2Of(i), progress: e } }));
          } else if (e.type === 'block') {
            const ssd2 = { ...this.ssd2Of(i), block: e.block, steps_run: e.stepsRun, steps_saved: e.stepsSaved };
            await write(this.chunk(i, e.delta, null, { ssd2 }, first[i]));
            first[i] = false;
          } else if (e.type === 'done') {
            if (e.delta) await write(this.chunk(i, e.delta, null, { ssd2: this.ssd2Of(i) }, first[i]));
            dones[i] = e;
            const last = this.choices.every((ch) => dones[ch.index]);
            // The call's record is written before its last finish chunk, which carries its cost.
            const record = last ? await meter?.complete(callDone(dones), this.elapsed()) : undefined;
            const cost = record ? { cost_usd: record.costMicroUsd / 1e6 } : {};
            await write(this.chunk(i, null, finishReasonOf(e), { ssd2: { ...this.finishedSsd2(i, e), ...cost } }));
            if (!last) continue;
            if (includeUsage) {
              const completion = callDone(dones).tokens.length;
              const usage = { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
              await write({ ...this.chunk(0, null, null), choices: [], usage });
            }
            await stream.writeSSE({ data: '[DONE]' });
            return;
          }
        }
        await meter?.fail('failed', 'generation_incomplete', this.elapsed(), this.delivered);
      } catch (err) {
        await meter?.fail('failed', err instanceof ApiError ? err.code : 'internal', this.elapsed(), this.delivered);
        throw err;
      } finally {
        await release();
      }
    });
  }
}
