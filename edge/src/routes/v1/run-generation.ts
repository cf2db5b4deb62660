import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { AppEnv, Env } from '../../env';
import { ApiError, notFound } from '../../errors/api-error';
import { ndjsonLines } from '../../generation/ndjson';
import type { GenerationStreamEvent } from '../../generation/spec';
import { TextAccumulator } from '../../openai/text-stream';
import type { PreparedGeneration } from './generation-request';

export type ResponseKind = 'completion' | 'chat';

type FinishReason = 'stop' | 'length';

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
  new ApiError(e.status as ApiError['status'], e.error.type as ApiError['type'], e.error.code ?? 'error', e.error.message, e.error.param, Object.fromEntries(Object.entries(e.error).filter(([k]) => !['message', 'type', 'param', 'code'].includes(k))));

/**
 * Starts the generation in its Durable Object and answers in OpenAI's shape: SSE chunks (one per
 * finished block) or one JSON body. The first event is awaited before any header is sent, so
 * a request the engine or a worker rejects still gets a proper 4xx status.
 */
export async function runGeneration(c: Context<AppEnv>, prepared: PreparedGeneration, kind: ResponseKind, opts: { stream: boolean; includeUsage: boolean; generationId?: string }): Promise<Response> {
  const { spec, model } = prepared;
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
  const usage = (completionTokens: number) => ({ prompt_tokens: spec.prompt.length, completion_tokens: completionTokens, total_tokens: spec.prompt.length + completionTokens });
  const finishOf = (done: Extract<GenerationStreamEvent, { type: 'done' }>): FinishReason => (text.stopped || done.finishReason === 'eos' ? 'stop' : 'length');
  c.header('x-ssd2-generation-id', generationId);

  async function* all(): AsyncGenerator<GenerationStreamEvent> {
    if (!first.done) yield first.value;
    yield* events;
  }

  if (!opts.stream) {
    let done: Extract<GenerationStreamEvent, { type: 'done' }> | null = null;
    for await (const e of all()) {
      if (e.type === 'error') throw errorFrom(e);
      if (e.type === 'block') text.push(e.tokens);
      if (e.type === 'done') done = e;
    }
    if (!done) throw new ApiError(502, 'api_error', 'generation_incomplete', 'the generation ended without a result');
    const finish_reason = finishOf(done);
    const ssd2 = { ...ssd2Base, blocks: done.blocks, steps_run: done.stepsRun, steps_saved: done.stepsSaved };
    const choice = kind === 'chat' ? { index: 0, message: { role: 'assistant', content: text.text, refusal: null }, logprobs: null, finish_reason } : { index: 0, text: text.text, logprobs: null, finish_reason };
    return c.json({ id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: model.id, choices: [choice], usage: usage(done.tokens.length), ssd2 });
  }

  const chunk = (delta: string | null, finish_reason: FinishReason | null, extra: Record<string, unknown> = {}, first = false) =>
    kind === 'chat'
      ? { id, object: 'chat.completion.chunk', created, model: model.id, choices: [{ index: 0, delta: delta === null ? {} : { ...(first ? { role: 'assistant' } : {}), content: delta }, logprobs: null, finish_reason }], ...extra }
      : { id, object: 'text_completion', created, model: model.id, choices: [{ index: 0, text: delta ?? '', logprobs: null, finish_reason }], ...extra };

  return streamSSE(c, async (stream) => {
    let firstChunk = true;
    stream.onAbort(() => void events.return(undefined));
    for await (const e of all()) {
      if (stream.aborted) return;
      if (e.type === 'error') {
        await stream.writeSSE({ data: JSON.stringify({ error: e.error }) });
        return;
      }
      if (e.type === 'step') {
        await stream.writeSSE({ data: JSON.stringify(chunk(kind === 'chat' ? null : '', null, { ssd2: { ...ssd2Base, progress: e } })) });
      } else if (e.type === 'block') {
        const delta = text.push(e.tokens);
        await stream.writeSSE({ data: JSON.stringify(chunk(delta, null, { ssd2: { ...ssd2Base, block: e.block, steps_run: e.stepsRun, steps_saved: e.stepsSaved } }, firstChunk)) });
        firstChunk = false;
      } else if (e.type === 'done') {
        await stream.writeSSE({ data: JSON.stringify(chunk(null, finishOf(e), { ssd2: { ...ssd2Base, blocks: e.blocks, steps_run: e.stepsRun, steps_saved: e.stepsSaved } })) });
        if (opts.includeUsage) await stream.writeSSE({ data: JSON.stringify({ ...chunk(null, null), choices: [], usage: usage(e.tokens.length) }) });
        await stream.writeSSE({ data: '[DONE]' });
        return;
      }
    }
  });
}
