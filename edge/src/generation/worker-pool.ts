import { workerAuthorization } from '../../../shared/protocol/worker-auth';

/** The origin RemoteDenoiser and the fused runner are pointed at; the pool maps it to a real worker. */
export const POOL_ORIGIN = 'http://gpu-pool.invalid';

export interface PoolAttempt {
  worker: string;
  path: string;
  ok: boolean;
  status: number | null;
}

/** Base URLs from GPU_WORKERS (comma or whitespace separated). */
export function parseWorkerUrls(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[\s,]+/)
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter(Boolean);
}

/**
 * A configurable pool of GPU workers behind one fetch function. A generation sticks to one worker
 * (its context cache stays warm) and moves to the next when a request fails with a network error
 * or a 5xx: steps are idempotent (same inputs, same logits on any worker), so resending is safe.
 */
export class WorkerPool {
  private current: number;
  readonly attempts: PoolAttempt[] = [];

  /**
   * `auth`: every request carries a token signed with `secret` (WORKER_AUTH_SECRET) for `tenant`
   * (shared/protocol/worker-auth.ts); without a secret no request is sent.
   */
  constructor(
    readonly urls: readonly string[],
    private readonly auth: { secret: string | undefined; tenant: string },
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
    start = Math.floor(Math.random() * Math.max(1, urls.length)),
    private readonly signal?: AbortSignal,
  ) {
    if (urls.length === 0) throw new Error('no GPU workers configured (GPU_WORKERS is empty)');
    this.current = start % urls.length;
  }

  get worker(): string {
    return this.urls[this.current];
  }

  /** Moves the generation to the next worker (after a failure the caller saw mid-stream). */
  advance(): void {
    this.current = (this.current + 1) % this.urls.length;
  }

  /** fetch against POOL_ORIGIN; tries every worker once before giving up. */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const path = url.pathname + url.search;
    if (!this.auth.secret) throw new WorkerPoolError('the edge has no WORKER_AUTH_SECRET to sign GPU worker requests with');
    const headers = new Headers(init?.headers);
    headers.set('authorization', await workerAuthorization(this.auth.secret, this.auth.tenant));
    let lastError: unknown;
    for (let tried = 0; tried < this.urls.length; tried++) {
      const worker = this.worker;
      try {
        const res = await this.fetcher(worker + path, { ...init, headers, signal: this.signal });
        this.attempts.push({ worker, path, ok: res.status < 500, status: res.status });
        if (res.status < 500) return res;
        lastError = new Error(`${worker}${path} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      } catch (err) {
        if (this.signal?.aborted) throw err;
        this.attempts.push({ worker, path, ok: false, status: null });
        lastError = err;
      }
      this.advance();
    }
    throw new WorkerPoolError(`every GPU worker failed (${this.urls.length} tried): ${(lastError as Error)?.message ?? lastError}`);
  };
}

export class WorkerPoolError extends Error {
  override name = 'WorkerPoolError';
}
