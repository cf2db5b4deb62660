import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
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
    const perMinute = p.rateLimitPerMinute ?? (await new AuthStore(c.env.DB).getTenant(p.tenantId))?.policy.rate_limit_per_minute ?? (Number(c.env.DEFAULT_RATE_LIMIT_PER_MINUTE) || FALLBACK_PER_MINUTE);
    const limiter = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(p.keyId));
    const r = await limiter.take(perMinute);
    c.header('x-ratelimit-limit-requests', String(perMinute));
    c.header('x-ratelimit-remaining-requests', String(r.remaining));
    if (!r.allowed) {
      throw new ApiError(429, 'rate_limit_error', 'rate_limit_exceeded', `rate limit of ${perMinute} requests per minute reached; retry in ${r.retryAfterSeconds} s`).withHeader('retry-after', String(r.retryAfterSeconds));
    }
    await next();
  });
