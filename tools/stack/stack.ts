import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { applyMigrations, bundleEdge, createApiKey, startEdge, type EdgeProcess } from './edge';
import type { LocalBundle } from './models';
import { assertPortFree, freePort, portOrFree } from './ports';
import { s3WorkerEnv, startS3, type StackS3 } from './s3';
import { startWorkerProcess, type WorkerProcess, type WorkerProcessOptions } from './worker';

export interface LocalStackPorts {
  /** 0 = any free port; a fixed port that is busy fails before anything starts. */
  edge: number;
  s3: number;
  /** One entry per GPU worker. */
  workers: number[];
}

export interface TenantBundle {
  tenant: string;
  /** The path under tenants/<tenant>/ (what `user_model` names). */
  path: string;
  dir: string;
}

export interface LocalStackOptions {
  /** s3/ (the bucket, rewritten each start), worker-cache-<i>/ and wrangler/ (local D1 + Durable Objects) live here. */
  stateDir: string;
  /** Core bundles uploaded to models/<name>/<version>/. */
  bundles: LocalBundle[];
  /** What the workers load at start (WORKER_DEFAULT_MODEL); /readyz waits for it. */
  defaultModel: LocalBundle;
  /** User bundles uploaded to tenants/<tenant>/<path>/ (the `user_model` field). */
  tenantBundles?: TenantBundle[];
  ports: LocalStackPorts;
  /** Extra worker environment (e.g. SSD2_PROVIDERS, WORKER_BATCH_WINDOW_MS); an empty value removes a variable. */
  workerEnv?: Record<string, string>;
  /**
   * Bundle the edge once and serve that (no reload when a source changes; a reload abandons a
   * running batch-queue delivery and stalls the local queue). For benchmarks and long tests in a
   * working tree others edit; `npm start` keeps the hot reload.
   */
  frozenEdge?: boolean;
  /** Extra edge vars (passed to wrangler dev with --var). */
  edgeVars?: Record<string, string>;
  adminSecret?: string;
  /** Something between the edge and the workers (a recording proxy): gets the worker URLs, returns the ones the edge uses. */
  frontWorkers?: (urls: string[]) => Promise<{ urls: string[]; close(): Promise<void> }>;
  readyTimeoutMs?: number;
  /** Progress lines ("s3rver on …", "GPU worker 1 ready"). */
  log?: (line: string) => void;
  /** Hint appended to a busy-port error (which flag changes which port). */
  portHints?: Partial<Record<'edge' | 's3' | 'worker', string>>;
}

export class StackStoppedError extends Error {
  override name = 'StackStoppedError';
  constructor() {
    super('the local stack was stopped while starting');
  }
}

/**
 * The whole serving path on loopback: s3rver (in this process) with the bundles, GPU worker
 * processes that load them from S3, and `wrangler dev` (workerd, local D1 with the migrations,
 * Durable Objects). Every child runs in its own process group; `stop()` ends them all, may be
 * called at any time (also while `start()` runs, which then rejects with StackStoppedError), and a
 * failure half-way stops what was already started.
 */
export class LocalStack {
  readonly adminSecret: string;
  /** The secret the edge signs GPU worker requests with (the workers' WORKER_AUTH_SECRETS); one per stack. */
  readonly workerSecret: string;
  /** The workers' read-only /metrics token (WORKER_METRICS_TOKEN); one per stack. */
  readonly metricsToken: string;
  s3: StackS3 | undefined;
  workers: WorkerProcess[] = [];
  private workerOpts: WorkerProcessOptions[] = [];
  edge: EdgeProcess | undefined;
  /** The GPU_WORKERS the edge got (the front's URLs when there is one). */
  edgeWorkerUrls: string[] = [];
  private closers: (() => Promise<unknown>)[] = [];
  private stopping: Promise<void> | undefined;
  private readonly killSync = () => this.groups().forEach((g) => g.killSync());

  constructor(readonly opts: LocalStackOptions) {
    this.adminSecret = opts.adminSecret ?? `admin-${crypto.randomUUID()}`;
    this.workerSecret = `worker-${crypto.randomUUID()}`;
    this.metricsToken = `metrics-${crypto.randomUUID()}`;
  }

  get edgeUrl(): string {
    if (!this.edge) throw new Error('the stack is not started');
    return this.edge.url;
  }

  async start(): Promise<this> {
    const { opts } = this;
    const readyMs = opts.readyTimeoutMs ?? 120_000;
    const log = opts.log ?? (() => {});
    // Last resort if this process exits without stop(): the process groups must not outlive it.
    process.once('exit', this.killSync);
    try {
      const hint = (k: 'edge' | 's3' | 'worker') => opts.portHints?.[k] ?? 'choose another port';
      for (const p of opts.ports.workers) if (p) await assertPortFree(p, 'GPU worker', hint('worker'));
      if (opts.ports.s3) await assertPortFree(opts.ports.s3, 's3rver', hint('s3'));
      if (opts.ports.edge) await assertPortFree(opts.ports.edge, 'edge', hint('edge'));
      const workerPorts = await Promise.all(opts.ports.workers.map(portOrFree));
      const [edgePort, inspectorPort] = [await portOrFree(opts.ports.edge), await freePort()];
      mkdirSync(opts.stateDir, { recursive: true });

      const s3Dir = join(opts.stateDir, 's3');
      rmSync(s3Dir, { recursive: true, force: true });
      const s3 = await startS3(opts.ports.s3, s3Dir);
      this.s3 = s3;
      this.closers.push(() => s3.close());
      this.check();
      for (const b of opts.bundles) await s3.upload(b.dir, b.key);
      for (const t of opts.tenantBundles ?? []) await s3.upload(t.dir, `tenants/${t.tenant}/${t.path}/`);
      this.check();
      log(
        `s3rver on ${s3.endpoint}: ` +
          `${[...opts.bundles.map((b) => b.key), ...(opts.tenantBundles ?? []).map((t) => `tenants/${t.tenant}/${t.path}/`)].join(', ')}`,
      );

      const defaultModel = `${opts.defaultModel.name}@${opts.defaultModel.version}`;
      this.workerOpts = workerPorts.map((port, i) => ({
        name: `GPU worker ${i + 1}`,
        port,
        cacheDir: join(opts.stateDir, `worker-cache-${i + 1}`),
        env: {
          ...s3WorkerEnv(s3),
          WORKER_DEFAULT_MODEL: defaultModel,
          WORKER_AUTH_SECRETS: this.workerSecret,
          WORKER_METRICS_TOKEN: this.metricsToken,
          ...opts.workerEnv,
        },
      }));
      this.workers = this.workerOpts.map(startWorkerProcess);
      const workersReady = Promise.all(
        this.workers.map(async (w) => {
          await w.ready(readyMs);
          log(`${w.name} ready on ${w.url} (pid ${w.child.pid})`);
          this.reportExit(w, log);
        }),
      );

      const urls = this.workers.map((w) => w.url);
      if (opts.frontWorkers) {
        const front = await opts.frontWorkers(urls);
        this.closers.push(() => front.close());
        this.edgeWorkerUrls = front.urls;
      } else {
        this.edgeWorkerUrls = urls;
      }
      this.check();

      const persistTo = join(opts.stateDir, 'wrangler');
      const edgeReady = (async () => {
        const bundleDir = opts.frozenEdge ? join(opts.stateDir, 'edge-bundle') : undefined;
        await Promise.all([applyMigrations(persistTo, readyMs), bundleDir ? bundleEdge(bundleDir, readyMs) : undefined]);
        this.check();
        this.edge = startEdge({
          bundleDir,
          port: edgePort,
          inspectorPort,
          persistTo,
          vars: {
            ADMIN_SECRET: this.adminSecret,
            GPU_WORKERS: this.edgeWorkerUrls.join(','),
            WORKER_AUTH_SECRET: this.workerSecret,
            // The edge serves the servable core bundles in the bucket, the default first.
            SERVED_MODELS: servedModels(opts.defaultModel, opts.bundles),
            ...opts.edgeVars,
          },
        });
        await this.edge.ready(readyMs);
        log(`edge (wrangler dev) ready on ${this.edge.url}`);
      })();
      await Promise.all([workersReady, edgeReady]);
      this.check();
      return this;
    } catch (err) {
      // stop() called from outside while starting: whatever failed after it failed because of it.
      const stoppedFromOutside = this.stopping !== undefined;
      await this.stop();
      throw stoppedFromOutside ? new StackStoppedError() : err;
    }
  }

  /** Creates a tenant (if new) and an API key for it through the admin API. */
  newKey(tenant: string, scopes?: string[], keyName = 'local'): Promise<string> {
    return createApiKey(this.edgeUrl, this.adminSecret, tenant, keyName, scopes);
  }

  /**
   * Starts GPU worker `i` again on its port and disk cache (after it was killed, e.g. to test that
   * the edge rides out a worker loss); whatever is left of the old process group is killed first.
   * Resolves once the new worker is ready.
   */
  async restartWorker(i: number, readyTimeoutMs = this.opts.readyTimeoutMs ?? 120_000): Promise<WorkerProcess> {
    this.check();
    await this.workers[i].kill();
    const worker = startWorkerProcess(this.workerOpts[i]);
    this.workers[i] = worker;
    await worker.ready(readyTimeoutMs);
    return worker;
  }

  /** Says when a ready worker exits while the stack runs: the edge's requests then go to the others, or fail (502). */
  private reportExit(w: WorkerProcess, log: (line: string) => void): void {
    void w.exited.then((code) => {
      if (this.stopping || !this.workers.includes(w)) return;
      const left = this.workers.filter((o) => o !== w && o.child.exitCode === null).length;
      log(
        `${w.name} exited (code ${code}); ${left > 0 ? `${left} GPU worker(s) left` : 'no GPU worker left: generation requests get 502 until a restart'}`,
      );
    });
  }

  /** Every child process, then the in-process servers; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.groups().map((g) => g.stop()));
      for (const close of this.closers.reverse()) await close().catch(() => {});
      this.closers = [];
      process.off('exit', this.killSync);
    })();
    return this.stopping;
  }

  private groups() {
    return [...(this.edge ? [this.edge] : []), ...this.workers];
  }

  private check(): void {
    if (this.stopping) throw new StackStoppedError();
  }
}

/** The execution provider a worker opened its model with (its /healthz). */
export async function workerProvider(url: string): Promise<string> {
  const res = await fetch(`${url}/healthz`);
  const body = (await res.json()) as { provider?: string | null };
  return body.provider ?? 'unknown';
}

/** SERVED_MODELS for the edge: the default core first, then every other servable core bundle. */
function servedModels(defaultModel: LocalBundle, bundles: readonly LocalBundle[]): string {
  const refs = [defaultModel, ...bundles.filter((b) => b.servable && b !== defaultModel)].map((b) => `${b.name}@${b.version}`);
  return [...new Set(refs)].join(',');
}
