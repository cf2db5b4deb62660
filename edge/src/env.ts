import type { Generation } from './generation/generation-do';
import type { RateLimiter } from './rate-limit/rate-limiter';

/** Bindings and variables of the edge Worker (wrangler.toml; secrets from `.dev.vars` or `wrangler secret`). */
export interface Env {
  DB: D1Database;
  GENERATIONS: DurableObjectNamespace<Generation>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** Bearer secret of the /admin API; the admin API answers 401 to everything while it is unset. */
  ADMIN_SECRET?: string;
  /** Comma-separated base URLs of GPU workers. */
  GPU_WORKERS: string;
  /** Requests per minute per key when neither the key nor its tenant policy sets one. */
  DEFAULT_RATE_LIMIT_PER_MINUTE?: string;
  /** Milliseconds a client-side user model has to answer one step. */
  CLIENT_STEP_DEADLINE_MS?: string;
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
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
