import type { BatchMessage } from './batch/messages';
import type { Generation } from './generation/generation-do';
import type { UsageMeter } from './metering/meter';
import type { RateLimiter } from './rate-limit/rate-limiter';

/** Bindings and variables of the edge Worker (wrangler.toml; secrets from `.dev.vars` or `wrangler secret`). */
export interface Env {
  DB: D1Database;
  GENERATIONS: DurableObjectNamespace<Generation>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** Batch input/output files (R2). */
  FILES: R2Bucket;
  /** Batch lines, one message each, consumed by this Worker's `queue` handler. */
  BATCH_QUEUE: Queue<BatchMessage>;
  /** Bearer secret of the /admin API; the admin API answers 401 to everything while it is unset. */
  ADMIN_SECRET?: string;
  /** A read-only bearer token for GET /admin/queue and /admin/metrics (the autoscaler's); opens nothing else. */
  METRICS_TOKEN?: string;
  /**
   * The core models served, comma-separated `name@version` of bundles in the model bucket, the
   * default first (wrangler.toml); their limits and tokenizer come from a GPU worker on first use.
   */
  SERVED_MODELS?: string;
  /** Comma-separated base URLs of GPU workers. */
  GPU_WORKERS: string;
  /** Milliseconds a GPU worker has to answer, and between two events of a fused stream, before the next worker is tried (default 30000). */
  GPU_WORKER_TIMEOUT_MS?: string;
  /** Secret the edge signs every GPU worker request with (one of the workers' WORKER_AUTH_SECRETS). */
  WORKER_AUTH_SECRET?: string;
  /** Requests per minute per key when neither the key nor its tenant policy sets one. */
  DEFAULT_RATE_LIMIT_PER_MINUTE?: string;
  /** Denoising steps (per block x blocks) one call may ask for, unless the tenant policy says otherwise (default 50000). */
  MAX_STEPS_PER_CALL?: string;
  /** Generations one API key may run at once, unless the tenant policy says otherwise (default 16). */
  MAX_CONCURRENT_GENERATIONS_PER_KEY?: string;
  /** Hours an Idempotency-Key's response is kept and replayed (default 24). */
  IDEMPOTENCY_TTL_HOURS?: string;
  /** Milliseconds a client-side user model has to answer one step. */
  CLIENT_STEP_DEADLINE_MS?: string;
  /** The price table, JSON (billing/prices.ts); unset = every call is free. */
  PRICES?: string;
  /** Bytes of files one tenant may store (default 10 GiB). */
  FILES_QUOTA_BYTES?: string;
  /** Bytes one file of an uploaded user model may have (default 100 MiB, one request body). */
  USER_MODEL_MAX_FILE_BYTES?: string;
  /** Bytes of uploaded user models one tenant may store (default 5 GiB). */
  USER_MODEL_QUOTA_BYTES?: string;
  /** Batch lines one queue consumer invocation runs at once (default 8). */
  BATCH_CONCURRENCY?: string;
  /** Deliveries of a batch line before a GPU failure becomes its error line (default 5). */
  BATCH_MAX_ATTEMPTS?: string;
  /** First retry delay of a failed batch line in seconds, doubled per attempt (default 2). */
  BATCH_RETRY_BASE_SECONDS?: string;
  /** Seconds a batch line may run before it is aborted and retried (default 300). */
  BATCH_LINE_TIMEOUT_SECONDS?: string;
}

/** Who is calling, as the auth middleware established it. */
export interface Principal {
  keyId: string;
  tenantId: string;
  scopes: readonly string[];
  rateLimitPerMinute: number | null;
}

export interface AppVariables {
  principal: Principal;
  /** The usage meter of a metered route (metering/). */
  meter?: UsageMeter;
  /** True when the idempotency middleware answered with a stored response. */
  replayed?: boolean;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
