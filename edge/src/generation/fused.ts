import {
  ErrorBodySchema,
  GenerateEventSchema,
  PROTOCOL_VERSION,
  ProtocolError,
  RETRYABLE_WORKER_CODES,
  type GenerateEvent,
  type GenerateRequestInput,
} from '../../../shared/protocol';
import { ndjsonLines } from '../../../shared/streams';
import { POOL_ORIGIN, WorkerPoolError, type WorkerPool } from './worker-pool';
import type { GenerationSpec } from './spec';

/** The fused request for a spec: the GPU worker runs the whole block loop. */
function fusedRequest(spec: GenerationSpec): GenerateRequestInput {
  return {
    v: PROTOCOL_VERSION,
    model: spec.model,
    prompt: spec.prompt,
    options: spec.options,
    // The private context goes only into the user model's field; the core's prompt never holds it.
    ...(spec.userModel ? { user: { tenant: spec.tenantId, bundle: spec.userModel, context: spec.userContext ?? [] } } : {}),
  };
}

/**
 * The items of `source`, failing with a retryable error (504 worker_timeout) when the next one
 * takes longer than `ms`: a worker that stops sending mid-stream is failed over.
 */
async function* withIdleTimeout<T>(source: AsyncGenerator<T>, ms: number, onTimeout: () => void): AsyncGenerator<T> {
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          onTimeout();
          reject(new ProtocolError(504, 'worker_timeout', `the GPU worker sent nothing for ${ms} ms`, null));
        }, ms);
      });
      try {
        const next = await Promise.race([source.next(), silent]);
        if (next.done) return;
        yield next.value;
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    // Left early (a stop sequence, a caller gone), this cancels the worker's stream; after the end it does nothing.
    void source.return(undefined).catch(() => {});
  }
}

/**
 * Fused mode: streams the worker's block events. A worker that fails mid-generation is replaced
 * by the next one in the pool, which replays the generation from the start (same seed, same
 * tokens) while the blocks already streamed are skipped.
 */
export async function* runFused(pool: WorkerPool, spec: GenerationSpec): AsyncGenerator<GenerateEvent> {
  const body = JSON.stringify(fusedRequest(spec));
  let blocksSent = 0;
  for (let restarts = 0; ; restarts++) {
    const res = await pool.fetch(`${POOL_ORIGIN}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (!res.ok) throw ProtocolError.fromBody(res.status, ErrorBodySchema.parse(await res.json()));
    try {
      for await (const raw of withIdleTimeout(ndjsonLines(res.body!), pool.timeoutMs, () => void res.body!.cancel().catch(() => {}))) {
        const event = GenerateEventSchema.parse(raw);
        if (event.type === 'error') {
          throw new ProtocolError(
            RETRYABLE_WORKER_CODES.has(event.error.code) ? 503 : 400,
            event.error.code,
            event.error.message,
            event.error.field,
          );
        }
        if (event.type === 'block' && event.block < blocksSent) continue; // replayed after a restart
        if (event.type === 'block') blocksSent = event.block + 1;
        yield event;
        if (event.type === 'done') return;
      }
      throw new ProtocolError(503, 'stream_ended', 'the worker closed the stream before the generation was done', null);
    } catch (err) {
      const retryable = !(err instanceof ProtocolError) || err.status >= 500;
      if (!retryable || restarts + 1 >= pool.urls.length)
        throw err instanceof ProtocolError || err instanceof WorkerPoolError
          ? err
          : new WorkerPoolError(`GPU worker stream failed: ${(err as Error).message}`);
      pool.advance();
    }
  }
}
