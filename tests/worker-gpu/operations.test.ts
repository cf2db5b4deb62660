import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepRequest } from '../helpers/step-request';
import { startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { postJson, startTestWorker } from './helpers/worker';

const step = (seed: number) => stepRequest({ seed, context: [1, 2, seed] });

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
});
afterAll(async () => s3?.close());

describe('operations', () => {
  it('answers 503 with Retry-After when the step queue is full, and serves again once it drains', async () => {
    const w = await startTestWorker(s3, { WORKER_MAX_QUEUE: '3', WORKER_BATCH_WINDOW_MS: '100' });
    try {
      const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => postJson(`${w.url}/v1/step`, step(i))));
      const statuses = replies.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 503, 503, 503]);
      const refused = replies.find((r) => r.status === 503)!;
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.json.error.code).toBe('overloaded');
      expect((await postJson(`${w.url}/v1/step`, step(9))).status).toBe(200);
    } finally {
      await w.close();
    }
  });

  it('shuts down gracefully: the step in flight completes, new ones are refused', async () => {
    const w = await startTestWorker(s3, { WORKER_BATCH_WINDOW_MS: '200' });
    const inFlight = postJson(`${w.url}/v1/step`, step(1));
    await new Promise((r) => setTimeout(r, 50)); // the step is waiting in the batch window
    const closed = w.close();
    expect((await inFlight).status).toBe(200);
    await closed;
    await expect(fetch(`${w.url}/healthz`)).rejects.toThrow();
  });
});
