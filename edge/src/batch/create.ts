import { stepsFor } from '../../../shared/ssd2/options';
import { maxCostMicroUsd, priceTable } from '../billing/prices';
import type { Env, Principal } from '../env';
import { invalidRequest } from '../errors/api-error';
import { batchLineUsage, insertUsage } from '../metering/usage-store';
import { servedModels, type ServedModel } from '../models/catalog';
import { enforceBudget } from '../quota';
import { finalizeBatch } from './finalize';
import { duplicateCustomId, MAX_LINES, parseBatchFile, type ParsedLine } from './jsonl';
import type { BatchEndpoint, BatchMessage } from './messages';
import { errorLine, lineRequestId } from './result-lines';
import { BatchStore, type BatchRow, type FileRow } from './store';

const D1_CHUNK = 50;
const QUEUE_CHUNK = 100; // Queues: at most 100 messages (and 256 KB) per sendBatch
const QUEUE_CHUNK_BYTES = 200 * 1024;
/** Bytes of JSON one INSERT ... FROM json_each(?) carries (D1 takes statements up to 100 KB). */
const JSON_CHUNK_BYTES = 90 * 1024;
/** Malformed lines a batch accepts as error lines (each is a usage row of its own). */
const MAX_MALFORMED_LINES = 200;

/** Rows as JSON arrays of at most JSON_CHUNK_BYTES each. */
function* jsonChunks(rows: readonly unknown[]): Generator<string> {
  let parts: string[] = [];
  let bytes = 2;
  for (const r of rows) {
    const json = JSON.stringify(r);
    if (parts.length && bytes + json.length + 1 > JSON_CHUNK_BYTES) {
      yield `[${parts.join(',')}]`;
      parts = [];
      bytes = 2;
    }
    parts.push(json);
    bytes += json.length + 1;
  }
  if (parts.length) yield `[${parts.join(',')}]`;
}

/**
 * Sends the lines' queue messages (100 per sendBatch) and marks them queued, one UPDATE per ten
 * sends. Lines whose mark never lands are sent again by the sweeper: a line may be delivered
 * twice, and its outcome is still recorded once.
 */
export async function enqueueLines(
  env: Env,
  batchId: string,
  lines: readonly { index: number; custom_id: string; url: BatchEndpoint; body: Record<string, unknown> }[],
): Promise<void> {
  let chunk: MessageSendRequest<BatchMessage>[] = [];
  let bytes = 0;
  let sent: number[] = [];
  const mark = async () => {
    if (!sent.length) return;
    await env.DB.prepare('UPDATE batch_lines SET queued = 1 WHERE batch_id = ? AND line_index IN (SELECT value FROM json_each(?))')
      .bind(batchId, JSON.stringify(sent))
      .run();
    sent = [];
  };
  const flush = async () => {
    if (chunk.length) await env.BATCH_QUEUE.sendBatch(chunk);
    sent.push(...chunk.map((m) => m.body.line));
    chunk = [];
    bytes = 0;
    if (sent.length >= 10 * QUEUE_CHUNK) await mark();
  };
  for (const l of lines) {
    const body: BatchMessage = { batch_id: batchId, line: l.index, custom_id: l.custom_id, url: l.url, body: l.body };
    const size = JSON.stringify(body).length + 100;
    if (chunk.length >= QUEUE_CHUNK || bytes + size > QUEUE_CHUNK_BYTES) await flush();
    chunk.push({ body, contentType: 'json' });
    bytes += size;
  }
  await flush();
  await mark();
}

/**
 * An upper bound of what the valid lines can cost, without tokenizing (a prompt has at most as
 * many tokens as UTF-8 bytes), so creating a 50,000-line batch stays cheap.
 */
function maxBatchCost(env: Env, lines: Extract<ParsedLine, { ok: true }>[], models: readonly ServedModel[]): number {
  const table = priceTable(env.PRICES);
  let total = 0;
  for (const l of lines) {
    const b = l.body as {
      model?: string;
      max_tokens?: number | null;
      max_completion_tokens?: number | null;
      steps?: number;
      block_size?: number;
    };
    const model = models.find((m) => m.id === b.model);
    const promptBytes = new TextEncoder().encode(
      JSON.stringify((l.body as { prompt?: unknown; messages?: unknown }).prompt ?? (l.body as { messages?: unknown }).messages ?? ''),
    ).length;
    const maxTokens = b.max_completion_tokens ?? b.max_tokens ?? (l.url === '/v1/completions' ? 16 : 64);
    total += maxCostMicroUsd(table, {
      model: b.model ?? '',
      promptTokens: Math.min(promptBytes, model?.maxContext ?? promptBytes),
      maxTokens,
      steps: stepsFor({ steps: b.steps, blockSize: b.block_size }, model ?? { blockSize: 1 }),
      blockSize: b.block_size ?? model?.blockSize ?? 1,
      batch: true,
    });
  }
  return total;
}

/**
 * POST /v1/batches: reads the input file, records every line (malformed ones at once as error
 * lines, free), checks the budget against the batch's most expensive outcome and enqueues one
 * message per valid line.
 */
export async function createBatch(
  env: Env,
  principal: Principal,
  file: FileRow,
  text: string,
  req: { endpoint: BatchEndpoint; completion_window: string; metadata?: Record<string, string> },
  batchId: string,
): Promise<BatchRow> {
  const lines = parseBatchFile(text, req.endpoint);
  if (lines.length === 0) throw invalidRequest('input_file_id', 'the input file has no lines', 'empty_file');
  if (lines.length > MAX_LINES)
    throw invalidRequest('input_file_id', `the input file has ${lines.length} lines; a batch takes at most ${MAX_LINES}`, 'too_many_lines');
  const dup = duplicateCustomId(lines);
  if (dup !== null)
    throw invalidRequest(
      'input_file_id',
      `custom_id "${dup}" occurs more than once; custom_id must be unique within a batch`,
      'duplicate_custom_id',
    );
  const valid = lines.filter((l): l is Extract<ParsedLine, { ok: true }> => l.ok);
  await enforceBudget(env.DB, principal.keyId, maxBatchCost(env, valid, await servedModels(env, principal.tenantId)));

  const now = Date.now();
  const store = new BatchStore(env.DB);
  const row: BatchRow = {
    id: batchId,
    tenant_id: principal.tenantId,
    key_id: principal.keyId,
    endpoint: req.endpoint,
    input_file_id: file.id,
    completion_window: req.completion_window,
    status: 'in_progress',
    total: lines.length,
    output_file_id: null,
    error_file_id: null,
    metadata: req.metadata ? JSON.stringify(req.metadata) : null,
    created_at: now,
    in_progress_at: now,
    finalizing_at: null,
    completed_at: null,
    cancelling_at: null,
    cancelled_at: null,
  };
  const malformed = lines.filter((l): l is Extract<ParsedLine, { ok: false }> => !l.ok);
  if (malformed.length > MAX_MALFORMED_LINES) {
    throw invalidRequest(
      'input_file_id',
      `${malformed.length} lines are malformed (at most ${MAX_MALFORMED_LINES} are accepted as error lines); the first, line ` +
        `${malformed[0].index}: ${malformed[0].message}`,
      'too_many_malformed_lines',
    );
  }
  // Every line is written before any is enqueued (queued = 0), a few thousand per statement, so a
  // 50,000-line file stays within D1's queries per invocation; the batch row goes with the first chunk.
  const statements: D1PreparedStatement[] = [
    env.DB.prepare(
      'INSERT INTO batches (id, tenant_id, key_id, endpoint, input_file_id, completion_window, status, total, metadata, created_at, ' +
        'in_progress_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).bind(
      row.id,
      row.tenant_id,
      row.key_id,
      row.endpoint,
      row.input_file_id,
      row.completion_window,
      row.status,
      row.total,
      row.metadata,
      now,
      now,
    ),
  ];
  const lineRows = lines.map((l) =>
    l.ok
      ? { i: l.index, c: l.custom_id, s: 'pending', r: null }
      : { i: l.index, c: l.custom_id, s: 'error', r: errorLine(batchId, l.index, l.custom_id, { code: l.code, message: l.message }) },
  );
  for (const chunk of jsonChunks(lineRows)) {
    statements.push(
      env.DB.prepare(
        `INSERT INTO batch_lines (batch_id, line_index, custom_id, status, result, enqueued_at, finished_at, queued)
         SELECT ?1, j.value ->> '$.i', j.value ->> '$.c', j.value ->> '$.s', j.value ->> '$.r', ?2,
         CASE WHEN j.value ->> '$.s' = 'error' THEN ?2 END, 0 FROM json_each(?3) AS j`,
      ).bind(batchId, now, chunk),
    );
  }
  for (const l of malformed) {
    const usage = batchLineUsage({
      id: lineRequestId(batchId, l.index),
      tenantId: principal.tenantId,
      keyId: principal.keyId,
      batchId,
      customId: l.custom_id,
      model: '',
      createdAt: now,
    });
    statements.push(insertUsage(env.DB, { ...usage, errorCode: l.code }));
  }
  for (let i = 0; i < statements.length; i += D1_CHUNK) await env.DB.batch(statements.slice(i, i + D1_CHUNK));
  await enqueueLines(env, batchId, valid);
  if (valid.length === 0) await finalizeBatch(env, store, batchId);
  return (await store.getBatch(principal.tenantId, batchId))!;
}
