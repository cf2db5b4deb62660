import { createMiddleware } from 'hono/factory';
import { newId } from '../auth/keys';
import type { AppEnv } from '../env';
import { UsageMeter } from './meter';
import type { UsageKind } from './usage-store';

export { ANONYMOUS } from './meter';

/**
 * Meters a generation route: every call gets a request id (`x-request-id`) and exactly one usage
 * record. It runs before authentication (app.ts), so refusals are calls too: 401 (recorded under
 * ANONYMOUS), 403 scope, 429 rate limit, 413 body too large. Successful calls are recorded by the
 * route (before the body, or before a stream's last event); anything that ends in an error
 * response is recorded here, free, before the response leaves: `blocked` for a prompt the
 * tenant's policy refused, `failed` for the rest. Only POST is metered (the routes' only method).
 */
export const meter = (kind: UsageKind) =>
  createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const requestId = newId('req');
    const idempotencyKey = c.req.header('idempotency-key') ?? null;
    const usage = new UsageMeter(c.env, () => c.get('principal'), kind, requestId, idempotencyKey);
    c.set('meter', usage);
    c.header('x-request-id', requestId);
    await next();
    if (usage.record || usage.streaming) return;
    if (c.var.replayed) {
      await usage.fail('replayed', null);
      return;
    }
    if (c.res.status >= 400) {
      const code = await errorCode(c.res);
      await usage.fail(code === 'prompt_blocked' ? 'blocked' : 'failed', code);
    }
  });

async function errorCode(res: Response): Promise<string | null> {
  try {
    const body = (await res.clone().json()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' ? body.error.code : null;
  } catch {
    return null;
  }
}
