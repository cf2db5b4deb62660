import { createApp } from './app';
import { consumeBatchQueue } from './batch/consumer';
import type { Env } from './env';

export { Generation } from './generation/generation-do';
export { RateLimiter } from './rate-limit/rate-limiter';

/**
 * The edge Worker: the Hono app is the `fetch` handler (docs/edge.md); `queue` consumes batch
 * lines (docs/billing.md).
 */
export default Object.assign(createApp(), {
  queue: (batch: MessageBatch<unknown>, env: Env): Promise<void> => consumeBatchQueue(batch, env),
});
