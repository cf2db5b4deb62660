import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { WorkerConfig } from './config';
import { createApp } from './http/app';
import { Worker } from './worker';

export interface RunningWorker {
  worker: Worker;
  url: string;
  port: number;
  /** Graceful: refuse new steps, finish in-flight ones, then close. */
  close(): Promise<void>;
}

/** Starts the HTTP server; the default model loads in the background (/readyz says when). */
export async function startWorker(config: WorkerConfig, opts: { awaitWarm?: boolean } = {}): Promise<RunningWorker> {
  const worker = new Worker(config);
  const app = createApp(worker);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  worker.log.info('listening', { port, provider_list: config.providers });
  const warming = worker.warm().catch((err) => worker.log.error('default model failed to load', { error: (err as Error).message }));
  if (opts.awaitWarm) await warming;
  return {
    worker,
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        worker.draining = true;
        // Connections that finish their last in-flight request become idle: close them as they do.
        const reap = setInterval(() => 'closeIdleConnections' in server && server.closeIdleConnections(), 20);
        server.close((err) => {
          clearInterval(reap);
          void worker.generations.close();
          if (err) reject(err);
          else resolve();
        });
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      }),
  };
}
