import { createApp } from './app';
import { consumeBatchQueue } from './batch/consumer';
import { sweepAllBatches } from './batch/sweep';
import type { Env } from './env';
import { sweepUserModels } from './user-models/lifecycle';

export { Generation } from './generation/generation-do';
export { RateLimiter } from './rate-limit/rate-limiter';

/**
 * The edge Worker: the Hono app is the `fetch` handler (docs/edge.md); `queue` consumes batch
 * lines and `scheduled` sweeps orphaned ones (docs/billing.md) and unfinished user-model work.
 */
export default Object.assign(createApp(), {
  queue: (batch: MessageBatch<unknown>, env: Env): Promise<void> => consumeBatchQueue(batch, env),
  /**
   * The cron (wrangler.toml): batch lines a dead creation left unqueued are enqueued again;
   * user-model validations and deletions are finished.
   */
  scheduled: async (_controller: ScheduledController, env: Env): Promise<void> => {
    await Promise.all([sweepAllBatches(env), sweepUserModels(env)]);
  },
});
