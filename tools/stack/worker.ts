import { join } from 'node:path';
import { ROOT } from './paths';
import { spawnGroup, waitFor, type GroupProcess } from './process-group';

export interface WorkerProcessOptions {
  name: string;
  port: number;
  /** S3 and model settings (S3_*, AWS_*, WORKER_DEFAULT_MODEL, …); see worker-gpu/src/config.ts. */
  env: Record<string, string>;
  cacheDir: string;
}

export interface WorkerProcess extends GroupProcess {
  url: string;
  /** Resolves once /readyz answers 200 (the default model is in memory). */
  ready(timeoutMs: number): Promise<void>;
}

/**
 * `npm run worker`'s entry point (worker-gpu/src/main.ts) in its own process group, on
 * 127.0.0.1:`port`. Node runs it with tsx as a loader, so the group leader is the worker itself
 * and SIGTERM reaches its graceful shutdown directly. An empty value in `env` removes the variable.
 */
export function startWorkerProcess(opts: WorkerProcessOptions): WorkerProcess {
  const env: Record<string, string | undefined> = {
    ...process.env,
    WORKER_HOST: '127.0.0.1',
    WORKER_PORT: String(opts.port),
    WORKER_CACHE_DIR: opts.cacheDir,
    WORKER_LOG: 'info',
    ...opts.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === '') delete env[k];
  const group = spawnGroup(opts.name, process.execPath, ['--import', 'tsx', join(ROOT, 'worker-gpu/src/main.ts')], { cwd: ROOT, env });
  const url = `http://127.0.0.1:${opts.port}`;
  return {
    ...group,
    url,
    ready: (timeoutMs) =>
      waitFor(
        opts.name,
        async () => (await fetch(`${url}/readyz`)).ok,
        timeoutMs,
        group.output,
        () => group.child.exitCode !== null,
      ),
  };
}
