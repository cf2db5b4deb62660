import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { ConfigError, type WorkerConfig } from './config';
import { createApp } from './http/app';
import { DEFAULT_MODEL_RETRY, type RetryPolicy, Worker } from './worker';

export interface RunningWorker {
  worker: Worker;
  url: string;
  port: number;
  /**
   * Graceful: keeps listening and answers new /v1 requests 503 `shutting_down` (/readyz 503) while
   * the requests in flight finish. Past `drainMs` (default WORKER_DRAIN_SECONDS) the fused
   * generations still streaming end with a `shutting_down` error line; then the server closes.
   */
  close(drainMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Resolve only after the default model's first load attempt (loaded or failed). */
  awaitWarm?: boolean;
  /** Backoff of the default model's load retries. */
  retry?: RetryPolicy;
}

/** Requests whose responses have not finished (streams included). */
class InFlight {
  private count = 0;
  private waiting = new Set<() => void>();

  track(server: ServerType): void {
    server.on('request', (_req, res) => {
      this.count++;
      res.once('close', () => {
        if (--this.count === 0) for (const wake of this.waiting) wake();
      });
    });
  }

  /** Resolves true once nothing is in flight, false after `ms` if something still is. */
  idle(ms: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (done: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(onIdle);
        resolve(done);
      };
      const onIdle = () => wake(true);
      const timer = setTimeout(() => wake(false), ms);
      this.waiting.add(onIdle);
    });
  }
}

/** Time the streams cut at the drain's deadline get to write their error line. */
const ERROR_LINE_GRACE_MS = 1000;

/** Listens on WORKER_HOST:WORKER_PORT; a port in use (or not allowed) is a ConfigError naming the variable. */
function listen(app: ReturnType<typeof createApp>, config: WorkerConfig): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => {
      server.off('error', fail);
      resolve(server);
    });
    const fail = (err: NodeJS.ErrnoException) => {
      const variable = err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' ? 'WORKER_HOST' : 'WORKER_PORT';
      reject(new ConfigError(variable, `cannot listen on ${config.host}:${config.port}: ${err.code ?? err.message}`));
    };
    server.once('error', fail);
  });
}

/** Starts the HTTP server; the default model loads in the background (/readyz says when). */
export async function startWorker(config: WorkerConfig, opts: StartOptions = {}): Promise<RunningWorker> {
  const worker = new Worker(config);
  const app = createApp(worker);
  const server = await listen(app, config);
  const inFlight = new InFlight();
  inFlight.track(server);
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  worker.log.info('listening', { port, provider_list: config.providers });
  const firstAttempt = new Promise<void>((resolve) => void worker.warm(opts.retry ?? DEFAULT_MODEL_RETRY, resolve));
  if (opts.awaitWarm) await firstAttempt;
  return {
    worker,
    url: `http://${host}:${port}`,
    port,
    async close(drainMs = config.drainMs) {
      worker.draining = true;
      worker.stopWarming();
      if (!(await inFlight.idle(drainMs))) {
        worker.generations.abort();
        await inFlight.idle(ERROR_LINE_GRACE_MS);
      }
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      await worker.generations.close();
    },
  };
}
