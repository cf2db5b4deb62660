import { z } from 'zod';
import { MIN_SECRET_LENGTH } from '../../shared/protocol/worker-auth';
import { parseProviders, type ProviderName, type ThreadOptions } from './runtime/providers';

const int = (min: number) => z.coerce.number().int().min(min);

/** A comma-separated list of secrets, each at least MIN_SECRET_LENGTH characters. */
function secretList(value: string, ctx: z.RefinementCtx): string[] {
  const secrets = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (secrets.length === 0 || secrets.some((s) => s.length < MIN_SECRET_LENGTH))
    ctx.addIssue({ code: 'custom', message: `each secret must have at least ${MIN_SECRET_LENGTH} characters` });
  return secrets;
}

/** Every setting comes from the environment; names are the variables. */
const EnvSchema = z.object({
  WORKER_PORT: int(0).max(65535).default(8080),
  WORKER_HOST: z.string().default('0.0.0.0'),
  /** Comma-separated execution providers, first that works wins. */
  SSD2_PROVIDERS: z.string().default('cuda,webgpu,cpu'),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_BUCKET: z.string().min(1),
  /** Key prefix of the model tree: <prefix>models/<name>/<version>/, <prefix>tenants/<tenant>/... */
  S3_PREFIX: z
    .string()
    .default('')
    .refine((p) => p === '' || p.endsWith('/'), 'must be empty or end with "/"'),
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  /** Default model "name@version": loaded at start; /readyz waits for it. */
  /**
   * Secrets whose signed tokens this worker accepts (comma-separated, each at least 32 characters):
   * the edge signs every request with one of them (shared/protocol/worker-auth.ts). Several allow a
   * rotation without downtime.
   */
  WORKER_AUTH_SECRETS: z
    .string({ error: 'required: the secret(s) the edge signs its requests with (comma-separated, at least 32 characters each)' })
    .transform(secretList),
  /** A read-only bearer token for GET /metrics (Prometheus, KEDA); unset: only edge tokens read it. */
  WORKER_METRICS_TOKEN: z.string().min(MIN_SECRET_LENGTH).optional(),
  WORKER_DEFAULT_MODEL: z
    .string()
    .regex(/^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$/, 'must be name@version')
    .optional(),
  WORKER_CACHE_DIR: z.string().default('.cache/worker-models'),
  /** Bundle bytes kept open in memory (models, LRU). */
  WORKER_MODEL_MEMORY_BYTES: int(1).default(2 * 2 ** 30),
  /** Key/value cache budget per model. */
  WORKER_KV_CACHE_BYTES: int(1).default(256 * 2 ** 20),
  WORKER_BATCH_WINDOW_MS: z.coerce.number().min(0).max(1000).default(2),
  WORKER_MAX_BATCH: int(1).max(1024).default(32),
  /** Steps waiting across all models before new ones get 503 + Retry-After. */
  WORKER_MAX_QUEUE: int(1).default(1024),
  WORKER_CONTEXT_STORE_ENTRIES: int(1).default(10_000),
  WORKER_LOG: z.enum(['info', 'silent']).default('info'),
  /**
   * On SIGTERM, how long requests in flight get to finish (new ones get 503 shutting_down); fused
   * generations still streaming then end with an error line. Keep it below the pod's grace period.
   */
  WORKER_DRAIN_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  /**
   * Threads that run fused generations' block loops (noise, compaction, projection) beside the
   * model's batches; 0 runs them on the main thread. See docs/worker.md for when it pays.
   */
  WORKER_GENERATION_THREADS: int(0).max(256).default(0),
  /**
   * Where a step's O(B·V) work runs (noisy simplex, compaction, mixing, projection): 'on' in the
   * step graphs on the model's provider, 'off' in JavaScript, 'auto' in the graphs for blocks of
   * 2^16 logits or more (docs/worker.md).
   */
  WORKER_STEP_GRAPHS: z.enum(['auto', 'on', 'off']).default('auto'),
  /** onnxruntime intra-op threads; 0 = its default (one per core). */
  SSD2_INTRA_OP_THREADS: int(0).max(1024).default(0),
  /** Let onnxruntime's idle threads spin between parallel sections (its default; off here). */
  SSD2_ORT_SPINNING: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});

export interface WorkerConfig {
  port: number;
  host: string;
  providers: ProviderName[];
  s3: {
    endpoint?: string;
    region: string;
    bucket: string;
    prefix: string;
    forcePathStyle: boolean;
    credentials?: { accessKeyId: string; secretAccessKey: string };
  };
  defaultModel?: { name: string; version: string };
  cacheDir: string;
  modelMemoryBytes: number;
  kvCacheBytes: number;
  batchWindowMs: number;
  maxBatch: number;
  maxQueue: number;
  contextStoreEntries: number;
  log: 'info' | 'silent';
  /** WORKER_DRAIN_SECONDS in milliseconds. */
  drainMs: number;
  threads: ThreadOptions;
  generationThreads: number;
  stepGraphs: 'auto' | 'on' | 'off';
  auth: { secrets: string[]; metricsToken?: string };
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`configuration: ${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment at start; the error names the variable at fault. */
export function loadConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const e = parsed.data;
  let providers: ProviderName[];
  try {
    providers = parseProviders(e.SSD2_PROVIDERS);
  } catch (err) {
    throw new ConfigError('SSD2_PROVIDERS', (err as Error).message);
  }
  if (Boolean(e.AWS_ACCESS_KEY_ID) !== Boolean(e.AWS_SECRET_ACCESS_KEY)) {
    throw new ConfigError(
      e.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID',
      'set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither',
    );
  }
  const [name, version] = e.WORKER_DEFAULT_MODEL?.split('@') ?? [];
  return {
    port: e.WORKER_PORT,
    host: e.WORKER_HOST,
    providers,
    s3: {
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION,
      bucket: e.S3_BUCKET,
      prefix: e.S3_PREFIX,
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
      credentials: e.AWS_ACCESS_KEY_ID ? { accessKeyId: e.AWS_ACCESS_KEY_ID, secretAccessKey: e.AWS_SECRET_ACCESS_KEY! } : undefined,
    },
    defaultModel: name ? { name, version } : undefined,
    cacheDir: e.WORKER_CACHE_DIR,
    modelMemoryBytes: e.WORKER_MODEL_MEMORY_BYTES,
    kvCacheBytes: e.WORKER_KV_CACHE_BYTES,
    batchWindowMs: e.WORKER_BATCH_WINDOW_MS,
    maxBatch: e.WORKER_MAX_BATCH,
    maxQueue: e.WORKER_MAX_QUEUE,
    contextStoreEntries: e.WORKER_CONTEXT_STORE_ENTRIES,
    log: e.WORKER_LOG,
    drainMs: e.WORKER_DRAIN_SECONDS * 1000,
    threads: { intraOpThreads: e.SSD2_INTRA_OP_THREADS || undefined, spinning: e.SSD2_ORT_SPINNING },
    generationThreads: e.WORKER_GENERATION_THREADS,
    stepGraphs: e.WORKER_STEP_GRAPHS,
    auth: { secrets: e.WORKER_AUTH_SECRETS, metricsToken: e.WORKER_METRICS_TOKEN },
  };
}
