import { describe, expect, it } from 'vitest';
import { api, newTenant } from '../../test/helpers';
import { TokenBucket } from './token-bucket';

describe('token bucket', () => {
  it('allows a burst of the limit, then refills at limit per minute', () => {
    const bucket = new TokenBucket(3, 0);
    expect([1, 2, 3].map(() => bucket.take(3, 0).allowed)).toEqual([true, true, true]);
    expect(bucket.take(3, 0)).toEqual({ allowed: false, retryAfterSeconds: 20, remaining: 0 });
    expect(bucket.take(3, 19_000).allowed).toBe(false);
    expect(bucket.take(3, 20_001).allowed).toBe(true);
  });
});

describe('rate limit per key', () => {
  it('answers 429 with Retry-After once the key has used its requests, in OpenAI shape', async () => {
    const { key } = await newTenant({ rateLimit: 2 });
    const other = await newTenant({ rateLimit: 2 });
    expect((await api('/v1/models', key)).status).toBe(200);
    expect((await api('/v1/models', key)).status).toBe(200);
    const limited = await api('/v1/models', key);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await limited.json()) as any).error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    // Another key is unaffected.
    expect((await api('/v1/models', other.key)).status).toBe(200);
  });

  it('falls back to the tenant policy limit', async () => {
    const { key } = await newTenant({ policy: { rate_limit_per_minute: 1 } });
    expect((await api('/v1/models', key)).status).toBe(200);
    expect((await api('/v1/models', key)).status).toBe(429);
  });
});
