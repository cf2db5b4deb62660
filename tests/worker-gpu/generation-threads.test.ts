import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../shared/protocol';
import type { RunningWorker } from '../../worker-gpu/src/server';
import { startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { metric, postGenerate, startTestWorker, workerFetch } from './helpers/worker';

const MODEL = { name: 'tiny-core', version: '0.1.0' };
const OPTIONS = { steps: 8, maxTokens: 30, topP: 0.9, earlyStopPatience: 3, stopAtEos: false };

let s3: TestS3;
let inProcess: RunningWorker;
let threaded: RunningWorker;
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
  [inProcess, threaded] = await Promise.all([startTestWorker(s3), startTestWorker(s3, { WORKER_GENERATION_THREADS: '2' })]);
});
afterAll(async () => {
  await Promise.all([inProcess?.close(), threaded?.close()]);
  await s3?.close();
});

describe('generation threads (WORKER_GENERATION_THREADS)', () => {
  it('are reported at /healthz', async () => {
    expect((await (await fetch(`${threaded.url}/healthz`)).json()).generationThreads).toBe(2);
    expect((await (await fetch(`${inProcess.url}/healthz`)).json()).generationThreads).toBe(0);
  });

  it('give every concurrent fused generation exactly the events of the in-process loop', async () => {
    const bodies = [1, 2, 3, 4, 5].map((seed) => ({
      v: PROTOCOL_VERSION,
      model: MODEL,
      prompt: [40 + seed, 41, 42],
      options: { ...OPTIONS, seed },
    }));
    const [expected, actual] = await Promise.all([
      Promise.all(bodies.map((b) => postGenerate(inProcess.url, b))),
      Promise.all(bodies.map((b) => postGenerate(threaded.url, b))),
    ]);
    expect(actual.map((r) => r.status)).toEqual(bodies.map(() => 200));
    expect(actual.map((r) => r.events)).toEqual(expected.map((r) => r.events));
    expect(new Set(expected.map((r) => JSON.stringify(r.events.at(-1)))).size).toBe(bodies.length);
    // Their steps still meet in lock-step batches: a round is submitted once every generation sent its step.
    const meanBatch = async (url: string) => {
      const text = await (await workerFetch(`${url}/metrics`)).text();
      const label = '{model="tiny-core@0.1.0"}';
      return metric(text, `ssd2_worker_batch_size_sum${label}`) / metric(text, `ssd2_worker_batch_size_count${label}`);
    };
    expect(await meanBatch(threaded.url)).toBeGreaterThan(0.75 * (await meanBatch(inProcess.url)));
  });

  it('stop a generation whose client went away, and keep serving', async () => {
    const steps = async () =>
      metric(await (await workerFetch(`${threaded.url}/metrics`)).text(), 'ssd2_worker_batch_size_sum{model="tiny-core@0.1.0"}');
    const abort = new AbortController();
    // 24 blocks of 100 steps: seconds of work if it ran on.
    const body = {
      v: PROTOCOL_VERSION,
      model: MODEL,
      prompt: [7, 8, 9],
      options: { steps: 100, maxTokens: 600, earlyStopPatience: 0, stopAtEos: false },
    };
    const before = await steps();
    const res = await workerFetch(`${threaded.url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    await res.body!.getReader().read(); // the first block
    abort.abort();
    // The stream's pending read ends with the next block; then the thread stops the loop.
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await expect
      .poll(
        async () => {
          const a = await steps();
          await sleep(300);
          return (await steps()) - a;
        },
        { timeout: 4000, interval: 50 },
      )
      .toBe(0);
    expect((await steps()) - before).toBeLessThan(600);
    expect((await postGenerate(threaded.url, { v: PROTOCOL_VERSION, model: MODEL, prompt: [5, 6], options: OPTIONS })).status).toBe(200);
  });

  it('answer bad input found by the block loop with the same 4xx and field', async () => {
    const base = { v: PROTOCOL_VERSION, model: MODEL, prompt: [1, 2, 3] };
    for (const body of [
      { ...base, prompt: Array(200).fill(1) },
      { ...base, options: { blockSize: 30 } },
      { ...base, options: { lambda: [0.5], steps: 4 } },
    ]) {
      const [a, b] = await Promise.all([postGenerate(inProcess.url, body), postGenerate(threaded.url, body)]);
      expect(a.status).toBe(400);
      expect(b).toEqual(a);
    }
  });
});
