import type { Env } from '../env';
import { type BatchStore, r2KeyOf } from './store';

const outputFileId = (batchId: string) => `file-${batchId}-output`;
const errorFileId = (batchId: string) => `file-${batchId}-errors`;

/** R2 takes multipart parts of at least 5 MiB (but the last). */
const PART_BYTES = 5 * 1024 * 1024;

/**
 * Writes JSONL pages to R2 as they come, never holding more than one part: a single put when the
 * whole file is under a part, else a multipart upload. Returns the bytes written (0: nothing).
 */
async function writeJsonl(bucket: R2Bucket, key: string, pages: AsyncIterable<string[]>): Promise<number> {
  const encoder = new TextEncoder();
  let buffered: Uint8Array[] = [];
  let size = 0;
  let total = 0;
  let upload: R2MultipartUpload | null = null;
  const parts: R2UploadedPart[] = [];
  const take = () => {
    const out = new Uint8Array(size);
    let at = 0;
    for (const b of buffered) out.set(b, at), (at += b.length);
    buffered = [];
    size = 0;
    return out;
  };
  const httpMetadata = { contentType: 'application/jsonl' };
  for await (const page of pages) {
    const bytes = encoder.encode(page.join('\n') + '\n');
    buffered.push(bytes);
    size += bytes.length;
    total += bytes.length;
    if (size >= PART_BYTES) {
      upload ??= await bucket.createMultipartUpload(key, { httpMetadata });
      parts.push(await upload.uploadPart(parts.length + 1, take()));
    }
  }
  if (!upload) {
    if (total > 0) await bucket.put(key, take(), { httpMetadata });
    return total;
  }
  if (size > 0) parts.push(await upload.uploadPart(parts.length + 1, take()));
  await upload.complete(parts);
  return total;
}

/**
 * Once no line of the batch is pending: streams the output and error JSONL files (input order,
 * a page of lines at a time) to R2 and marks the batch completed (or cancelled). Idempotent: file ids and keys are fixed, the
 * status moves only from in_progress/cancelling, so two finalizers racing write the same bytes.
 */
export async function finalizeBatch(env: Env, store: BatchStore, batchId: string): Promise<void> {
  const batch = await store.getBatch(null, batchId);
  if (!batch || (batch.status !== 'in_progress' && batch.status !== 'cancelling' && batch.status !== 'finalizing')) return;
  const counts = await store.counts(batchId);
  if (counts.pending > 0) return;
  const now = Date.now();
  await env.DB.prepare(
    "UPDATE batches SET status = 'finalizing', finalizing_at = COALESCE(finalizing_at, ?) WHERE id = ? AND status = 'in_progress'",
  )
    .bind(now, batchId)
    .run();

  const written: (string | null)[] = [];
  for (const [id, status] of [
    [outputFileId(batchId), 'ok'],
    [errorFileId(batchId), 'error'],
  ] as const) {
    const key = r2KeyOf(batch.tenant_id, id);
    const bytes = await writeJsonl(env.FILES, key, store.results(batchId, status));
    if (bytes === 0) {
      written.push(null);
      continue;
    }
    await store.insertFile({
      id,
      tenant_id: batch.tenant_id,
      purpose: 'batch_output',
      filename: `${id}.jsonl`,
      bytes,
      r2_key: key,
      created_at: now,
    });
    written.push(id);
  }
  const cancelled = batch.status === 'cancelling';
  await env.DB.prepare(
    `UPDATE batches SET status = ?, output_file_id = ?, error_file_id = ?, ${cancelled ? 'cancelled_at' : 'completed_at'} = ?
       WHERE id = ? AND status IN ('in_progress', 'finalizing', 'cancelling')`,
  )
    .bind(cancelled ? 'cancelled' : 'completed', written[0], written[1], now, batchId)
    .run();
}
