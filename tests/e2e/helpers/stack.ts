import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStack, readBundle, type GroupProcess, type StackS3 } from '../../../tools/stack';
import { CACHE, ROOT } from '../../helpers/paths';
import { startRecordingProxy, type RecordingProxy } from './recording-proxy';

export interface EdgeStack {
  /** The edge (wrangler dev), e.g. http://127.0.0.1:41234 */
  edgeUrl: string;
  adminSecret: string;
  workerUrl: string;
  /** The secret the edge signs worker requests with; a test signs with it to call a worker as the edge does. */
  workerSecret: string;
  /** The workers' read-only /metrics token. */
  metricsToken: string;
  /** Between the edge and the worker: what the worker received. */
  proxy: RecordingProxy;
  s3: StackS3;
  worker: GroupProcess;
  wrangler: GroupProcess;
  /** Creates a tenant and an API key through the admin API. */
  newKey(tenant: string, scopes?: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface StackOptions {
  model?: string;
  /** More core bundle directories in the bucket (served through SERVED_MODELS in `edgeVars`). */
  bundles?: string[];
  /** Extra edge vars. */
  edgeVars?: Record<string, string>;
  /** Extra worker environment (e.g. WORKER_BATCH_WINDOW_MS). */
  workerEnv?: Record<string, string>;
  readyTimeoutMs?: number;
}

/**
 * The local stack of `npm start` (tools/stack) on random ports under a per-run directory, with one
 * CPU worker and a recording proxy between the edge and the worker: s3rver with the bundled model,
 * a GPU worker process that loads it from S3, and `wrangler dev` (workerd) with local D1. Every
 * process runs in its own process group; `stop()` ends them all, and a failure half-way stops what
 * was already started.
 */
export async function startEdgeStack(opts: StackOptions = {}): Promise<EdgeStack> {
  const model = readBundle(join(ROOT, opts.model ?? 'models/tiny-core'));
  mkdirSync(CACHE, { recursive: true });
  const stateDir = mkdtempSync(join(CACHE, 'stack-'));
  let proxy: RecordingProxy | undefined;
  const stack = new LocalStack({
    stateDir,
    bundles: [model, ...(opts.bundles ?? []).map((dir) => readBundle(dir))],
    defaultModel: model,
    ports: { edge: 0, s3: 0, workers: [0] },
    workerEnv: { SSD2_PROVIDERS: 'cpu', ...opts.workerEnv },
    edgeVars: { DEFAULT_RATE_LIMIT_PER_MINUTE: '100000', ...opts.edgeVars },
    readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
    async frontWorkers([workerUrl]) {
      proxy = await startRecordingProxy(workerUrl);
      return { urls: [proxy.url], close: () => proxy!.close() };
    },
  });
  const stop = async () => {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await stack.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    edgeUrl: stack.edgeUrl,
    adminSecret: stack.adminSecret,
    workerUrl: stack.workers[0].url,
    workerSecret: stack.workerSecret,
    metricsToken: stack.metricsToken,
    proxy: proxy!,
    s3: stack.s3!,
    worker: stack.workers[0],
    wrangler: stack.edge!,
    stop,
    newKey: (tenant, scopes) => stack.newKey(tenant, scopes, 'e2e'),
  };
}
