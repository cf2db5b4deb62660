import { Hono } from 'hono';
import { BatchStore } from '../batch/store';
import type { AppEnv } from '../env';

/** Queue depth for autoscalers: batch lines waiting or running, and the age of the oldest. */
export async function queueSnapshot(db: D1Database, now = Date.now()): Promise<{ depth: number; oldest_age_seconds: number }> {
  const { depth, oldest } = await new BatchStore(db).queueState();
  return { depth, oldest_age_seconds: oldest === null ? 0 : Math.max(0, (now - oldest) / 1000) };
}

/** The metrics as Prometheus text exposition (version 0.0.4). */
export function prometheusText(q: { depth: number; oldest_age_seconds: number }, batches: Record<string, number>): string {
  const lines = [
    '# HELP ssd2_edge_batch_queue_depth Batch lines enqueued and not yet recorded (waiting or running).',
    '# TYPE ssd2_edge_batch_queue_depth gauge',
    `ssd2_edge_batch_queue_depth ${q.depth}`,
    '# HELP ssd2_edge_batch_queue_oldest_age_seconds Age of the oldest batch line not yet recorded (0 when none).',
    '# TYPE ssd2_edge_batch_queue_oldest_age_seconds gauge',
    `ssd2_edge_batch_queue_oldest_age_seconds ${q.oldest_age_seconds.toFixed(3)}`,
    '# HELP ssd2_edge_batches Batches by status.',
    '# TYPE ssd2_edge_batches gauge',
    ...['in_progress', 'finalizing', 'cancelling', 'completed', 'cancelled'].map(
      (s) => `ssd2_edge_batches{status="${s}"} ${batches[s] ?? 0}`,
    ),
  ];
  return lines.join('\n') + '\n';
}

/**
 * The scale-out contract (mounted under the admin auth): `GET /admin/queue` is what KEDA's
 * metrics-api trigger reads (infra/k8s/keda-scaledobject.yaml: valueLocation `depth`), and
 * `GET /admin/metrics` the same numbers for Prometheus.
 */
export const scaleOut = new Hono<AppEnv>()
  .get('/queue', async (c) => c.json(await queueSnapshot(c.env.DB)))
  .get('/metrics', async (c) => {
    const [q, batches] = await Promise.all([queueSnapshot(c.env.DB), new BatchStore(c.env.DB).batchesByStatus()]);
    return c.body(prometheusText(q, batches), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
