import { AuthStore } from '../auth/store';
import type { Env, Principal } from '../env';
import { toApiError } from '../errors/to-api-error';
import type { PreparedGeneration } from '../routes/v1/generation-request';
import { batchLineUsage, insertUsage, usageFromSpec, type UsageRecord } from '../metering/usage-store';
import { releaseReservation } from '../quota';
import { finalizeBatch } from './finalize';
import { BatchMessageSchema, type BatchMessage } from './messages';
import { errorLine, lineRequestId, outputLine } from './result-lines';
import { runBatchLine } from './run-line';
import { BatchStore } from './store';

/** The completion window batches are created with ('24h', the only one accepted): lines not run by then end as errors. */
const COMPLETION_WINDOW_MS = 24 * 3_600_000;

const intVar = (v: string | undefined, fallback: number) =>
  v !== undefined && Number.isFinite(Number(v)) && v !== '' ? Number(v) : fallback;

/** Runs `fn` over `items` with at most `limit` running at once. */
async function mapBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}

/** Retry delay of a line's n-th failed delivery: base · 2^(n-1) seconds, at most 5 minutes. */
const backoffSeconds = (attempt: number, base: number) => Math.min(300, Math.round(base * 2 ** Math.max(0, attempt - 1)));

/**
 * The queue consumer. Each message is one batch line; a line's outcome is written exactly once
 * (the UPDATE only matches a pending line, and its usage record has a fixed id), so a redelivered
 * message changes nothing. GPU failures (5xx) are retried with exponential backoff up to
 * BATCH_MAX_ATTEMPTS deliveries, then become error lines; refusals (4xx: blocked prompt, over
 * budget) become error lines at once. Messages from the dead-letter queue become error lines. A
 * line running past BATCH_LINE_TIMEOUT_SECONDS (default 300) is aborted and retried.
 */
export async function consumeBatchQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const store = new BatchStore(env.DB);
  const touched = new Set<string>();
  const deadLetters = batch.queue.endsWith('-dlq');
  const maxAttempts = intVar(env.BATCH_MAX_ATTEMPTS, 5);
  const base = intVar(env.BATCH_RETRY_BASE_SECONDS, 2);
  const lineTimeoutMs = intVar(env.BATCH_LINE_TIMEOUT_SECONDS, 300) * 1000;

  await mapBounded(batch.messages, intVar(env.BATCH_CONCURRENCY, 8), async (message) => {
    const parsed = BatchMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      console.error('batch queue: dropping a message that is not a batch line', parsed.error.issues[0]);
      message.ack();
      return;
    }
    const msg = parsed.data;
    touched.add(msg.batch_id);
    // A line that hangs (a GPU worker that accepted the request and went silent) must not hold the
    // whole delivery: past the deadline its GPU request is aborted and the line goes back to the
    // queue (recording is exactly-once, so a late finish of the abandoned run changes nothing).
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        abort.abort(new Error(`batch line ran longer than ${lineTimeoutMs} ms`));
        resolve('timeout');
      }, lineTimeoutMs);
    });
    try {
      const work = handleLine(
        env,
        store,
        msg,
        deadLetters ? 'dead_lettered' : message.attempts >= maxAttempts ? 'last' : 'retryable',
        abort.signal,
      );
      work.catch(() => {}); // an abandoned run's late failure is not an unhandled rejection
      const outcome = await Promise.race([work, deadline]);
      if (outcome === 'timeout') {
        console.error('batch queue: line timed out, retrying', msg.batch_id, msg.line);
        await store.bumpAttempts(msg.batch_id, msg.line).catch(() => {});
        message.retry({ delaySeconds: backoffSeconds(message.attempts, base) });
      } else if (outcome === 'retry') {
        await store.bumpAttempts(msg.batch_id, msg.line);
        message.retry({ delaySeconds: backoffSeconds(message.attempts, base) });
      } else message.ack();
    } catch (err) {
      // D1 or R2 trouble while recording: let the queue deliver it again (recording is idempotent).
      console.error('batch queue: line failed to record', msg.batch_id, msg.line, err);
      message.retry({ delaySeconds: backoffSeconds(message.attempts, base) });
    } finally {
      clearTimeout(timer);
    }
  });

  for (const batchId of touched) await finalizeBatch(env, store, batchId);
}

type Delivery = 'retryable' | 'last' | 'dead_lettered';

async function handleLine(
  env: Env,
  store: BatchStore,
  msg: BatchMessage,
  delivery: Delivery,
  signal?: AbortSignal,
): Promise<'done' | 'retry'> {
  const [line, batch] = await Promise.all([store.getLine(msg.batch_id, msg.line), store.getBatch(null, msg.batch_id)]);
  if (!line || !batch || line.status !== 'pending') return 'done'; // already recorded: a duplicate delivery
  const principal: Principal = { tenantId: batch.tenant_id, keyId: batch.key_id, scopes: ['generate'], rateLimitPerMinute: null };
  const requestId = lineRequestId(msg.batch_id, msg.line);
  const base = batchLineUsage({
    id: requestId,
    tenantId: batch.tenant_id,
    keyId: batch.key_id,
    batchId: msg.batch_id,
    customId: msg.custom_id,
    model: typeof msg.body.model === 'string' ? msg.body.model : '',
    createdAt: Date.now(),
  });
  const recordError = async (code: string, message: string, status?: number, body?: unknown, prepared?: PreparedGeneration) => {
    const usage: UsageRecord = {
      ...base,
      ...(prepared ? usageFromSpec(prepared.spec) : {}),
      status: code === 'prompt_blocked' ? 'blocked' : 'failed',
      errorCode: code,
    };
    await env.DB.batch([
      insertUsage(env.DB, usage),
      releaseReservation(env.DB, requestId),
      store.finishLine(
        msg.batch_id,
        msg.line,
        'error',
        errorLine(msg.batch_id, msg.line, msg.custom_id, { code, message, status, requestId, body }),
      ),
    ]);
    return 'done' as const;
  };

  if (delivery === 'dead_lettered') return recordError('dead_lettered', 'the line could not be processed (dead-letter queue)', 500);
  if (batch.status === 'cancelling' || batch.status === 'cancelled')
    return recordError('batch_cancelled', 'the batch was cancelled before this line ran');
  if (Date.now() > batch.created_at + COMPLETION_WINDOW_MS)
    return recordError('batch_expired', "the batch's 24h completion window ended before this line ran", 408);
  if (!(await new AuthStore(env.DB).isKeyActive(batch.key_id)))
    return recordError('key_revoked', 'the API key that created this batch was revoked before this line ran', 401);

  let prepared: PreparedGeneration | undefined;
  try {
    const r = await runBatchLine(env, principal, msg, (p) => (prepared = p), signal);
    const usage: UsageRecord = {
      ...base,
      ...usageFromSpec(r.prepared.spec),
      status: 'ok',
      completionTokens: r.done.tokens.length,
      stepsRun: r.done.stepsRun,
      stepsSaved: r.done.stepsSaved,
      workerMs: r.workerMs,
      costMicroUsd: r.costMicroUsd,
      finishReason: r.done.finishReason,
    };
    // The usage row, the end of the line's budget reservation and its output line: one transaction.
    await env.DB.batch([
      insertUsage(env.DB, usage),
      releaseReservation(env.DB, requestId),
      store.finishLine(msg.batch_id, msg.line, 'ok', outputLine(msg.batch_id, msg.line, msg.custom_id, requestId, r.body)),
    ]);
    return 'done';
  } catch (err) {
    const e = toApiError(err);
    if (e.status >= 500 && delivery === 'retryable') return 'retry';
    return recordError(e.code, e.message, e.status, e.toBody(), prepared);
  }
}
