import { createMiddleware } from 'hono/factory';
import { z } from 'zod';
import { hashKey, newId } from '../auth/keys';
import type { AppEnv } from '../env';
import { ApiError, invalidRequest } from '../errors/api-error';
import { IdempotencyStore } from './store';

/** Refusals a retry may get past (budget raised, rate limit refilled, a concurrent call done): not kept. */
const RETRYABLE = new Set([402, 409, 429]);

const KeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1..255 visible ASCII characters');

/**
 * `Idempotency-Key` on POST: the first call with a key (per tenant) claims it and its response is
 * kept; a retry with the same key and the same request gets that response again
 * (`idempotent-replayed: true`) without running or charging anything. The same key with another
 * request is 422 `idempotency_key_reused`; a retry while the first call still runs is 409
 * `idempotency_key_in_progress`. 402/409/429 and 5xx responses and streams that failed or that the
 * caller left are not kept: the claim is released and a retry runs again (a failed call cost
 * nothing; a left one was charged for what it was sent). Streams are kept whole (SSE text) once
 * they end. A kept response expires after IDEMPOTENCY_TTL_HOURS (default 24), and a claim
 * left pending by a call that never finished is released after 30 minutes.
 */
export const idempotency = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('idempotency-key');
    if (c.req.method !== 'POST' || header === undefined) return next();
    const parsed = KeySchema.safeParse(header);
    if (!parsed.success) throw invalidRequest('Idempotency-Key', `Idempotency-Key: ${parsed.error.issues[0].message}`);
    const key = parsed.data;
    const { tenantId } = c.var.principal;
    const ttlHours = Number(c.env.IDEMPOTENCY_TTL_HOURS);
    const store = new IdempotencyStore(c.env.DB, Number.isFinite(ttlHours) && ttlHours > 0 ? ttlHours * 3_600_000 : undefined);
    const requestHash = await hashKey(`${c.req.method} ${c.req.path}\n${await c.req.text()}`);

    // A metered route's request id; any other (a batch creation) gets one here, so a replay can name the original.
    let requestId = c.var.meter?.requestId;
    if (!requestId) {
      requestId = newId('req');
      c.header('x-request-id', requestId);
    }
    if (!(await store.claim(tenantId, key, requestHash, requestId))) {
      const row = await store.get(tenantId, key);
      if (!row)
        throw new ApiError(
          409,
          'invalid_request_error',
          'idempotency_key_in_progress',
          'a call with this Idempotency-Key is being processed; retry shortly',
        );
      if (row.request_hash !== requestHash)
        throw new ApiError(
          422,
          'invalid_request_error',
          'idempotency_key_reused',
          'this Idempotency-Key was used with a different request',
          'Idempotency-Key',
        );
      if (row.state !== 'done')
        throw new ApiError(
          409,
          'invalid_request_error',
          'idempotency_key_in_progress',
          'a call with this Idempotency-Key is being processed; retry shortly',
          'Idempotency-Key',
        );
      c.set('replayed', true);
      c.res = new Response(row.body, {
        status: row.status ?? 200,
        headers: {
          'content-type': row.content_type ?? 'application/json',
          'idempotent-replayed': 'true',
          ...(row.request_id ? { 'x-original-request-id': row.request_id } : {}),
        },
      });
      return;
    }

    try {
      await next();
    } catch (err) {
      await store.release(tenantId, key);
      throw err;
    }
    const res = c.res;
    const contentType = res.headers.get('content-type') ?? 'application/json';
    if (res.status >= 500 || RETRYABLE.has(res.status) || !res.body) {
      await store.release(tenantId, key);
      return;
    }
    if (!contentType.startsWith('text/event-stream')) {
      await store.complete(tenantId, key, res.status, contentType, await res.clone().text());
      return;
    }
    // A stream: kept once it has ended whole; the client's cancel still reaches the generation.
    const meter = c.var.meter;
    const recorded = recordStream(res.body);
    c.res = new Response(recorded.body, res);
    c.executionCtx.waitUntil(
      recorded.ended.then(async (text) => {
        if (text === null || (meter?.record && meter.record.status !== 'ok')) await store.release(tenantId, key);
        else await store.complete(tenantId, key, res.status, contentType, text);
      }),
    );
  });

/**
 * A stream passed through as it is read, its text collected on the way. Unlike a tee, a reader
 * that cancels cancels the source (a caller that hangs up ends its generation). `ended` resolves
 * to the whole text once the source has ended, or to null if it was cancelled or failed.
 */
function recordStream(source: ReadableStream<Uint8Array>): { body: ReadableStream<Uint8Array>; ended: Promise<string | null> } {
  const reader = source.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let settle!: (text: string | null) => void;
  const ended = new Promise<string | null>((resolve) => {
    settle = resolve;
  });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          settle(text + decoder.decode());
          return;
        }
        text += decoder.decode(value, { stream: true });
        controller.enqueue(value);
      } catch (err) {
        settle(null);
        controller.error(err);
      }
    },
    async cancel(reason) {
      settle(null);
      await reader.cancel(reason);
    },
  });
  return { body, ended };
}
