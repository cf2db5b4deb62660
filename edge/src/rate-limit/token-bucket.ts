/** Outcome of taking one token: allowed, or how long until one is available. */
export interface TakeResult {
  allowed: boolean;
  /** Whole seconds until a request would be allowed (0 when allowed). */
  retryAfterSeconds: number;
  remaining: number;
}

/**
 * A token bucket holding up to `perMinute` tokens, refilled continuously: bursts up to the
 * limit, and on average `perMinute` requests per minute.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private perMinute: number,
    now: number,
  ) {
    this.tokens = perMinute;
    this.last = now;
  }

  take(perMinute: number, now: number): TakeResult {
    if (perMinute !== this.perMinute) {
      // A changed limit applies from now on, without handing out a fresh burst.
      this.tokens = Math.min(this.tokens, perMinute);
      this.perMinute = perMinute;
    }
    const ratePerMs = perMinute / 60_000;
    this.tokens = Math.min(perMinute, this.tokens + (now - this.last) * ratePerMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0, remaining: Math.floor(this.tokens) };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.tokens) / ratePerMs / 1000)), remaining: 0 };
  }
}
