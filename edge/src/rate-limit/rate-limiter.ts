import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';
import { TokenBucket, type TakeResult } from './token-bucket';

/**
 * One instance per API key (idFromName(keyId)); all of a key's requests, from any colo, meet
 * here. The bucket lives in memory: an evicted limiter starts full, which errs toward the caller.
 */
export class RateLimiter extends DurableObject<Env> {
  private bucket: TokenBucket | null = null;

  take(perMinute: number): TakeResult {
    const now = Date.now();
    this.bucket ??= new TokenBucket(perMinute, now);
    return this.bucket.take(perMinute, now);
  }
}
