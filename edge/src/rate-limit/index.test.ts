import { describe, expect, it } from 'vitest';
import { api, newTenant, stubLog, uniqueSeed } from '../../test/helpers';
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

describe('bounded work per call and per key', () => {
  const base = { model: 'tiny-core', prompt: 'The cat sat on the', steps: 10 };

  it('refuses a call whose steps x blocks exceed the tenant ceiling before any GPU work', async () => {
    const { key } = await newTenant({ policy: { max_steps_per_call: 100 } });
    const seed = uniqueSeed();
    const over = await api('/v1/completions', key, { ...base, max_tokens: 260, seed }); // 11 blocks of 25 x 10 steps
    expect(over.status).toBe(400);
    expect(((await over.json()) as any).error).toMatchObject({ code: 'work_limit_exceeded', param: 'max_tokens' });
    expect(await stubLog(seed)).toEqual([]);
    expect((await api('/v1/completions', key, { ...base, max_tokens: 250, seed: uniqueSeed() })).status).toBe(200); // 10 x 10 = 100
  });

  it('runs at most max_concurrent_generations per key: the next gets 429 with Retry-After until one ends', async () => {
    const { key } = await newTenant({ policy: { max_concurrent_generations: 1 } });
    const other = await newTenant({ policy: { max_concurrent_generations: 1 } });
    const long = await api('/v1/completions', key, {
      ...base,
      max_tokens: 2000,
      steps: 200,
      early_stop: 0,
      mode: 'per_step',
      stream: true,
      seed: uniqueSeed(),
    });
    expect(long.status).toBe(200);
    const reader = long.body!.getReader();
    await reader.read();
    const refused = await api('/v1/completions', key, { ...base, max_tokens: 25, seed: uniqueSeed() });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as any).error.code).toBe('concurrency_limit_exceeded');
    // Another key is unaffected.
    expect((await api('/v1/completions', other.key, { ...base, max_tokens: 25, seed: uniqueSeed() })).status).toBe(200);
    // Once the running generation ends (cancelled here), the key may start another.
    expect((await api(`/v1/generations/${long.headers.get('x-ssd2-generation-id')}`, key, undefined, { method: 'DELETE' })).status).toBe(
      200,
    );
    while (!(await reader.read()).done);
    expect((await api('/v1/completions', key, { ...base, max_tokens: 25, seed: uniqueSeed() })).status).toBe(200);
    // More choices than the key may run at once can never run: a 400, not a 429 to retry.
    const many = await api('/v1/completions', key, { ...base, max_tokens: 25, n: 2 });
    expect(many.status).toBe(400);
    expect(((await many.json()) as any).error).toMatchObject({ param: 'n' });
  });
});
