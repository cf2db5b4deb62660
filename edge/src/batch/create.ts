import { maxCostMicroUsd, priceTable } from '../billing/prices';
import type { Env, Principal } from '../env';
import { invalidRequest } from '../errors/api-error';
import { insertUsage, type UsageRecord } from '../metering/usage-store';
import { MODELS } from '../models/catalog';
import { enforceBudget } from '../quota';
import { finalizeBatch } from './finalize';
import { duplicateCustomId, MAX_LINES, parseBatchFile, type ParsedLine } from './jsonl';
import type { BatchEndpoint, BatchMessage } from './messages';
import { errorLine, lineRequestId } from './result-lines';
import { BatchStore, type BatchRow, type FileRow } from './store';

const D1_CHUNK = 50;
const QUEUE_CHUNK = 100; // Queues: at most 100 messages (and 256 KB) per sendBatch
const QUEUE_CHUNK_BYTES = 200 * 1024;

/**
 * An upper bound of what the valid lines can cost, without tokenizing (a prompt has at most as
 * many tokens as UTF-8 bytes), so creating a 50,000-line batch stays cheap.
 */
function maxBatchCost(env: Env, lines: Extract<ParsedLine, { ok: true }>[]): number {
  const table = priceTable(env.PRICES);
  let total = 0;
  for (const l of lines) {
    const b = l.body as { model?: string; max_tokens?: number | null; max_completion_tokens?: number | null; steps?: number; block_size?: number };
    const model = MODELS.find((m) => m.id === b.model);
    const promptBytes = new TextEncoder().encode(JSON.stringify((l.body as { prompt?: unknown; messages?: unknown }).prompt ?? (l.body as { messages?: unknown }).messages ?? '')).length;
    const maxTokens = b.max_completion_tokens ?? b.max_tokens ?? (l.url === '/v1/completions' ? 16 : 64);
    total += maxCostMicroUsd(table, { model: b.model ?? '', promptTokens: Math.min(promptBytes, model?.maxContext ?? promptBytes), maxTokens, steps: b.steps ?? 100, blockSize: b.block_size ?? model?.blockSize ?? 1, batch: true });
  }
  return total;
}

/**
 * POST /v1/batches: reads the input file, records every line (malformed ones at once as error
 * lines, free), checks the budget against the batch's most expensive outcome and enqueues one
 * message per valid line.
 */
export async function createBatch(env: Env, principal: Principal, file: FileRow, text: string, req: { endpoint: BatchEndpoint; completion_window: string; metadata?: Record<string, string> }, batchId: string): Promise<BatchRow> {
  const lines = parseBatchFile(text, req.endpoint);
  if (lines.length === 0) throw invalidRequest('input_file_id', 'the input file has no lines', 'empty_file');
  if (lines.length > MAX_LINES) throw invalidRequest('input_file_id', `the input file has ${lines.length} lines; a batch takes at most ${MAX_LINES}`, 'too_many_lines');
  const dup = duplicateCustomId(lines);
  if (dup !== null) throw invalidRequest('input_file_id', `custom_id "${dup}" occurs more than once; custom_id must be unique within a batch`, 'duplicate_custom_id');
  const valid = lines.filter((l): l is Extract<ParsedLine, { ok: true }> => l.ok);
  await enforceBudget(env.DB, principal.keyId, maxBatchCost(env, valid));

  const now = Date.now();
  const store = new BatchStore(env.DB);
  const row: BatchRow = {
    id: batchId, tenant_id: principal.tenantId, key_id: principal.keyId, endpoint: req.endpoint, input_file_id: file.id, completion_window: req.completion_window,
    status: 'in_progress', total: lines.length, output_file_id: null, error_file_id: null, metadata: req.metadata ? JSON.stringify(req.metadata) : null,
    created_at: now, in_progress_at: now, finalizing_at: null, completed_at: null, cancelling_at: null, cancelled_at: null,
  };
  const statements: D1PreparedStatement[] = [
    env.DB.prepare('INSERT INTO batches (id, tenant_id, key_id, endpoint, input_file_id, completion_window, status, total, metadata, created_at, in_progress_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .bind(row.id, row.tenant_id, row.key_id, row.endpoint, row.input_file_id, row.completion_window, row.status, row.total, row.metadata, now, now),
  ];
  for (const l of lines) {
    if (l.ok) {
      statements.push(env.DB.prepare("INSERT INTO batch_lines (batch_id, line_index, custom_id, status, enqueued_at) VALUES (?, ?, ?, 'pending', ?)").bind(batchId, l.index, l.custom_id, now));
      continue;
    }
    statements.push(env.DB.prepare("INSERT INTO batch_lines (batch_id, line_index, custom_id, status, result, enqueued_at, finished_at) VALUES (?, ?, ?, 'error', ?, ?, ?)").bind(batchId, l.index, l.custom_id, errorLine(batchId, l.index, l.custom_id, { code: l.code, message: l.message }), now, now));
    const usage: UsageRecord = {
      id: lineRequestId(batchId, l.index), tenantId: principal.tenantId, keyId: principal.keyId, kind: 'batch', status: 'failed', errorCode: l.code, model: '', userModel: null, mode: 'fused',
      collaboration: 'none', promptTokens: 0, completionTokens: 0, stepsRun: 0, stepsSaved: 0, workerMs: 0, costMicroUsd: 0, finishReason: '', batchId, customId: l.custom_id, idempotencyKey: null, createdAt: now,
    };
    statements.push(insertUsage(env.DB, usage));
  }
  // The batch row and its first chunk of lines land together; the batch is only enqueued once every line row exists.
  for (let i = 0; i < statements.length; i += D1_CHUNK) await env.DB.batch(statements.slice(i, i + D1_CHUNK));

  let chunk: MessageSendRequest<BatchMessage>[] = [];
  let bytes = 0;
  const flush = async () => {
    if (chunk.length) await env.BATCH_QUEUE.sendBatch(chunk);
    chunk = [];
    bytes = 0;
  };
  for (const l of valid) {
    const body: BatchMessage = { batch_id: batchId, line: l.index, custom_id: l.custom_id, url: l.url, body: l.body };
    const size = JSON.stringify(body).length + 100;
    if (chunk.length >= QUEUE_CHUNK || bytes + size > QUEUE_CHUNK_BYTES) await flush();
    chunk.push({ body, contentType: 'json' });
    bytes += size;
  }
  await flush();
  if (valid.length === 0) await finalizeBatch(env, store, batchId);
  return (await store.getBatch(principal.tenantId, batchId))!;
}
