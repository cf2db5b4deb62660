import { createMiddleware } from 'hono/factory';
import type { AppEnv, Env, Principal } from '../env';
import { ApiError } from '../errors/api-error';
import { AuthStore } from '../auth/store';

const FALLBACK_PER_MINUTE = 60;

/**
 * 429 with Retry-After once the key has used its requests per minute. The limit is the key's own,
 * else its tenant policy's, else DEFAULT_RATE_LIMIT_PER_MINUTE.
 */
export const rateLimit = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const p = c.var.principal;
    const perMinute =
      p.rateLimitPerMinute ??
      (await new AuthStore(c.env.DB).getTenant(p.tenantId))?.policy.rate_limit_per_minute ??
      (Number(c.env.DEFAULT_RATE_LIMIT_PER_MINUTE) || FALLBACK_PER_MINUTE);
    const limiter = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(p.keyId));
    const r = await limiter.take(perMinute);
    c.header('x-ratelimit-limit-requests', String(perMinute));
    c.header('x-ratelimit-remaining-requests', String(r.remaining));
    if (!r.allowed) {
      throw new ApiError(
        429,
        'rate_limit_error',
        'rate_limit_exceeded',
        `rate limit of ${perMinute} requests per minute reached; retry in ${r.retryAfterSeconds} s`,
      ).withHeader('retry-after', String(r.retryAfterSeconds));
    }
    await next();
  });

/** MAX_CONCURRENT_GENERATIONS_PER_KEY's default. */
export const DEFAULT_CONCURRENT_GENERATIONS = 16;
/** A key's concurrent generations: its tenant policy's max_concurrent_generations, else MAX_CONCURRENT_GENERATIONS_PER_KEY. */
export const concurrencyLimit = (env: Env, policyLimit: number | undefined): number =>
  policyLimit ?? (Number(env.MAX_CONCURRENT_GENERATIONS_PER_KEY) || DEFAULT_CONCURRENT_GENERATIONS);

/** How long a generation slot is held at most without a release. */
const SLOT_TTL_MS = 30 * 60_000;

/**
 * Takes one of the key's concurrent-generation slots (its tenant policy's
 * max_concurrent_generations, else MAX_CONCURRENT_GENERATIONS_PER_KEY); 429 with Retry-After when
 * all are taken. Returns the release, which is idempotent.
 */
export async function takeGenerationSlot(
  env: Env,
  principal: Principal,
  policyLimit: number | undefined,
  id: string,
): Promise<() => Promise<void>> {
  const limit = concurrencyLimit(env, policyLimit);
  const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(principal.keyId));
  const slot = await limiter.acquire(id, limit, SLOT_TTL_MS);
  if (!slot.allowed) {
    throw new ApiError(
      429,
      'rate_limit_error',
      'concurrency_limit_exceeded',
      `this API key already runs ${slot.running} generations, its limit; retry when one ends`,
    ).withHeader('retry-after', '2');
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await limiter.release(id);
  };
}
