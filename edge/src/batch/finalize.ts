import type { Env } from '../env';
import { BatchStore, r2KeyOf } from './store';

export const outputFileId = (batchId: string) => `file-${batchId}-output`;
export const errorFileId = (batchId: string) => `file-${batchId}-errors`;

/**
 * Once no line of the batch is pending: writes the output and error JSONL files (input order) to
 * R2 and marks the batch completed (or cancelled). Idempotent: file ids and keys are fixed, the
 * status moves only from in_progress/cancelling, so two finalizers racing write the same bytes.
 */
export async function finalizeBatch(env: Env, store: BatchStore, batchId: string): Promise<void> {
  const batch = await store.getBatch(null, batchId);
  if (!batch || (batch.status !== 'in_progress' && batch.status !== 'cancelling' && batch.status !== 'finalizing')) return;
  const counts = await store.counts(batchId);
  if (counts.pending > 0) return;
  const now = Date.now();
  await env.DB.prepare("UPDATE batches SET status = 'finalizing', finalizing_at = COALESCE(finalizing_at, ?) WHERE id = ? AND status = 'in_progress'").bind(now, batchId).run();

  const files: { id: string; lines: string[] }[] = [
    { id: outputFileId(batchId), lines: await store.results(batchId, 'ok') },
    { id: errorFileId(batchId), lines: await store.results(batchId, 'error') },
  ];
  const written: (string | null)[] = [];
  for (const f of files) {
    if (f.lines.length === 0) {
      written.push(null);
      continue;
    }
    const body = f.lines.join('\n') + '\n';
    const key = r2KeyOf(batch.tenant_id, f.id);
    await env.FILES.put(key, body, { httpMetadata: { contentType: 'application/jsonl' } });
    await store.insertFile({ id: f.id, tenant_id: batch.tenant_id, purpose: 'batch_output', filename: `${f.id}.jsonl`, bytes: new TextEncoder().encode(body).length, r2_key: key, created_at: now });
    written.push(f.id);
  }
  const cancelled = batch.status === 'cancelling';
  await env.DB
    .prepare(
      `UPDATE batches SET status = ?, output_file_id = ?, error_file_id = ?, ${cancelled ? 'cancelled_at' : 'completed_at'} = ?
       WHERE id = ? AND status IN ('in_progress', 'finalizing', 'cancelling')`,
    )
    .bind(cancelled ? 'cancelled' : 'completed', written[0], written[1], now, batchId)
    .run();
}
