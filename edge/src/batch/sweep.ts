import type { Env } from '../env';
import { enqueueLines } from './create';
import { parseBatchFile, type ParsedLine } from './jsonl';
import type { BatchEndpoint } from './messages';
import { BatchStore, type BatchRow } from './store';

/** How long a line may stay unqueued before the sweeper takes it for orphaned (its creation died). */
const ORPHAN_AFTER_MS = 60_000;

/**
 * Enqueues again the pending lines of a batch whose creation wrote them but died before sending
 * their messages (queued = 0 for longer than ORPHAN_AFTER_MS), reading their bodies back from the
 * input file. Runs when the batch is read and on the edge's cron; a line sent twice still records
 * one outcome. Returns how many lines it enqueued.
 */
export async function sweepOrphanedLines(env: Env, batch: BatchRow, now = Date.now()): Promise<number> {
  if (batch.status !== 'in_progress') return 0;
  const { results } = await env.DB.prepare(
    "SELECT line_index FROM batch_lines WHERE batch_id = ? AND queued = 0 AND status = 'pending' AND enqueued_at < ?",
  )
    .bind(batch.id, now - ORPHAN_AFTER_MS)
    .all<{ line_index: number }>();
  if (results.length === 0) return 0;
  const file = await new BatchStore(env.DB).getFile(batch.tenant_id, batch.input_file_id);
  const object = file ? await env.FILES.get(file.r2_key) : null;
  if (!object) return 0;
  const wanted = new Set(results.map((r) => r.line_index));
  const lines = parseBatchFile(await object.text(), batch.endpoint as BatchEndpoint).filter(
    (l): l is Extract<ParsedLine, { ok: true }> => l.ok && wanted.has(l.index),
  );
  console.error('batch sweep: enqueueing orphaned lines again', batch.id, lines.length);
  await enqueueLines(env, batch.id, lines);
  return lines.length;
}

/** The cron's sweep: every batch in progress that has orphaned lines. */
export async function sweepAllBatches(env: Env, now = Date.now()): Promise<number> {
  const { results } = await env.DB.prepare(
    "SELECT DISTINCT b.* FROM batches b JOIN batch_lines l ON l.batch_id = b.id WHERE b.status = 'in_progress' AND l.queued = 0 AND " +
      "l.status = 'pending' AND l.enqueued_at < ? LIMIT 20",
  )
    .bind(now - ORPHAN_AFTER_MS)
    .all<BatchRow>();
  let swept = 0;
  for (const b of results) swept += await sweepOrphanedLines(env, b, now);
  return swept;
}
