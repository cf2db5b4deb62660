import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';
import { TokenBucket, type TakeResult } from './token-bucket';

/**
 * One instance per API key (idFromName(keyId)); all of a key's requests, from any colo, meet
 * here. The bucket lives in memory: an evicted limiter starts full, which errs toward the caller.
 */
export class RateLimiter extends DurableObject<Env> {
  private bucket: TokenBucket | null = null;
  /** The key's running generations: lease id -> expiry (ms). */
  private readonly leases = new Map<string, number>();

  take(perMinute: number): TakeResult {
    const now = Date.now();
    this.bucket ??= new TokenBucket(perMinute, now);
    return this.bucket.take(perMinute, now);
  }

  /**
   * Takes one of the key's `limit` generation slots for `id` until released, or until `ttlMs` pass
   * (a release lost with a crashed isolate cannot hold a slot forever).
   */
  acquire(id: string, limit: number, ttlMs: number): { allowed: boolean; running: number } {
    const now = Date.now();
    for (const [lease, expires] of this.leases) if (expires <= now) this.leases.delete(lease);
    if (this.leases.size >= limit) return { allowed: false, running: this.leases.size };
    this.leases.set(id, now + ttlMs);
    return { allowed: true, running: this.leases.size };
  }

  release(id: string): void {
    this.leases.delete(id);
  }
}
