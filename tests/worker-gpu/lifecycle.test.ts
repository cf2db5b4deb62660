import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker-gpu/src/config';
import { startWorker } from '../../worker-gpu/src/server';
import { PROTOCOL_VERSION } from '../../shared/protocol';
import { ndjsonLines } from '../../shared/streams';
import { ROOT } from '../helpers/paths';
import { stepRequest, TINY_CORE } from '../helpers/step-request';
import { spawnWorker } from './helpers/child-worker';
import { startS3, startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { postJson, workerEnv, workerFetch } from './helpers/worker';

const until = async (what: string, check: () => Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
});
afterAll(async () => s3?.close());

describe('the default model', () => {
  it('is retried with backoff after a failed load, and /readyz turns ready once it loads', async () => {
    const empty = await startS3();
    const w = await startWorker(loadConfig(workerEnv(empty)), { awaitWarm: true, retry: { firstMs: 100, maxMs: 400 } });
    try {
      expect((await fetch(`${w.url}/readyz`)).status).toBe(503);
      expect((await (await fetch(`${w.url}/healthz`)).json()).defaultModel).toMatchObject({
        model: 'tiny-core@0.1.0',
        loaded: false,
        lastError: { code: 'model_not_found' },
      });
      await empty.upload(join(ROOT, 'models/tiny-core'), 'models/tiny-core/0.1.0/');
      await until('/readyz 200', async () => (await fetch(`${w.url}/readyz`)).status === 200);
      expect(w.worker.defaultModel).toMatchObject({ loaded: true });
      expect(w.worker.defaultModel!.failures).toBeGreaterThanOrEqual(1);
    } finally {
      await w.close();
      await empty.close();
    }
  });

  it('logs each failed load as JSON naming the model, and a shutdown ends the retries', async () => {
    const empty = await startS3();
    const worker = spawnWorker(workerEnv(empty));
    try {
      const first = await worker.waitForLog((l) => l.msg === 'default model failed to load');
      expect(first).toMatchObject({ level: 'error', model: 'tiny-core@0.1.0', attempt: 1, code: 'model_not_found', retryInMs: 1000 });
      await worker.waitForLog((l) => l.msg === 'default model failed to load' && l.attempt === 2);
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    } finally {
      worker.child.kill('SIGKILL');
      await empty.close();
    }
  });

  it('stops retrying once the worker is closed', async () => {
    const empty = await startS3();
    const w = await startWorker(loadConfig(workerEnv(empty)), { awaitWarm: true, retry: { firstMs: 20, maxMs: 20 } });
    try {
      await until('two failures', async () => w.worker.defaultModel!.failures >= 2);
      await w.close();
      const failures = w.worker.defaultModel!.failures;
      await new Promise((r) => setTimeout(r, 200));
      expect(w.worker.defaultModel!.failures).toBe(failures);
    } finally {
      await empty.close();
    }
  });
});

describe('SIGTERM', () => {
  it(
    'drains: new requests get 503 shutting_down and /readyz 503 while a fused generation runs on, which ends with an error line ' +
      'at the deadline; then the process exits 0',
    async () => {
      const worker = spawnWorker(workerEnv(s3, { WORKER_DRAIN_SECONDS: '2' }));
      const { port } = await worker.waitForLog((l) => l.msg === 'listening');
      await worker.waitForLog((l) => l.msg === 'default model loaded');
      const url = `http://127.0.0.1:${port}`;
      try {
        // Two blocks of 5,000 steps: far longer than the drain.
        const res = await workerFetch(`${url}/v1/generate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            v: PROTOCOL_VERSION,
            model: TINY_CORE,
            prompt: [1, 2, 3],
            options: { steps: 5000, maxTokens: 50, earlyStopPatience: 0, stopAtEos: false },
          }),
        });
        expect(res.status).toBe(200);
        const lines = (async () => {
          const out: any[] = [];
          for await (const line of ndjsonLines(res.body!)) out.push(line);
          return out;
        })();
        const t0 = Date.now();
        worker.child.kill('SIGTERM');
        await worker.waitForLog((l) => l.msg.startsWith('shutting down'));
        const refused = await postJson(`${url}/v1/step`, stepRequest());
        expect(refused.status).toBe(503);
        expect(refused.json.error.code).toBe('shutting_down');
        expect(refused.headers.get('retry-after')).toBe('1');
        expect((await fetch(`${url}/readyz`)).status).toBe(503);
        expect((await (await fetch(`${url}/healthz`)).json()).status).toBe('draining');
        const events = await lines;
        expect(events.at(-1)).toMatchObject({ type: 'error', error: { code: 'shutting_down' } });
        expect(await worker.exited).toBe(0);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
        expect(Date.now() - t0).toBeLessThan(10_000);
      } finally {
        worker.child.kill('SIGKILL');
      }
    },
  );
});

describe('start', () => {
  it('with WORKER_PORT in use: one JSON line naming the variable, exit 2', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const worker = spawnWorker(workerEnv(s3, { WORKER_PORT: String(port) }));
      expect(await worker.exited).toBe(2);
      const lines = worker.stderr().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0])).toMatchObject({ level: 'error', variable: 'WORKER_PORT' });
      expect(lines[0]).toContain(`127.0.0.1:${port}: EADDRINUSE`);
    } finally {
      taken.close();
    }
  });
});
