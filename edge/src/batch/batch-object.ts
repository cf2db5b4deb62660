import type { BatchRow, LineCounts } from './store';

const secs = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));
const DAY_S = 24 * 3600;

/** A batch as OpenAI's API shows it; `request_counts` are live (completed = output lines, failed = error lines). */
export function batchObject(b: BatchRow, counts: LineCounts) {
  return {
    id: b.id,
    object: 'batch',
    endpoint: b.endpoint,
    errors: null,
    input_file_id: b.input_file_id,
    completion_window: b.completion_window,
    status: b.status,
    output_file_id: b.output_file_id,
    error_file_id: b.error_file_id,
    created_at: secs(b.created_at),
    in_progress_at: secs(b.in_progress_at),
    expires_at: secs(b.created_at)! + DAY_S,
    finalizing_at: secs(b.finalizing_at),
    completed_at: secs(b.completed_at),
    failed_at: null,
    expired_at: null,
    cancelling_at: secs(b.cancelling_at),
    cancelled_at: secs(b.cancelled_at),
    request_counts: { total: b.total, completed: counts.ok, failed: counts.error },
    metadata: b.metadata ? JSON.parse(b.metadata) : null,
  };
}
