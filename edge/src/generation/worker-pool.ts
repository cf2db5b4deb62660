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
  /** Milliseconds a worker has to answer a request's headers, and between two events of a fused stream (GPU_WORKER_TIMEOUT_MS). */
  readonly timeoutMs: number;

  constructor(
    readonly urls: readonly string[],
    private readonly auth: { secret: string | undefined; tenant: string; timeoutMs?: number },
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
    start = Math.floor(Math.random() * Math.max(1, urls.length)),
    private readonly signal?: AbortSignal,
  ) {
    this.timeoutMs = auth.timeoutMs ?? DEFAULT_WORKER_TIMEOUT_MS;
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
      // Per attempt: aborted by the generation's signal, or when the worker does not answer in time
      // (a worker that accepts and then goes silent is failed over like one that errors).
      const attempt = new AbortController();
      const timer = setTimeout(
        () => attempt.abort(new WorkerTimeoutError(`no answer from the GPU worker within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      const signal = this.signal ? AbortSignal.any([this.signal, attempt.signal]) : attempt.signal;
      try {
        const res = await this.fetcher(worker + path, { ...init, headers, signal });
        clearTimeout(timer);
        this.attempts.push({ worker, path, ok: res.status < 500, status: res.status });
        if (res.status < 500) return res;
        lastError = new Error(`${worker}${path} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      } catch (err) {
        clearTimeout(timer);
        if (this.signal?.aborted) throw err;
        this.attempts.push({ worker, path, ok: false, status: null });
        lastError = attempt.signal.reason instanceof WorkerTimeoutError ? attempt.signal.reason : err;
      }
      this.advance();
    }
    throw new WorkerPoolError(`every GPU worker failed (${this.urls.length} tried): ${(lastError as Error)?.message ?? lastError}`);
  };
}

export class WorkerPoolError extends Error {
  override name = 'WorkerPoolError';
}

/** A worker that did not answer within the pool's timeout. */
class WorkerTimeoutError extends Error {
  override name = 'WorkerTimeoutError';
}

/** GPU_WORKER_TIMEOUT_MS's default. */
const DEFAULT_WORKER_TIMEOUT_MS = 30_000;

/** GPU_WORKER_TIMEOUT_MS, or the default when unset or not a positive number. */
export function workerTimeoutMs(env: { GPU_WORKER_TIMEOUT_MS?: string }): number {
  const ms = Number(env.GPU_WORKER_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_WORKER_TIMEOUT_MS;
}
