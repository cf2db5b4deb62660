import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, RemoteDenoiser } from '../../shared/protocol';
import { generateAll, type GenerationRequest } from '../../shared/ssd2';
import type { RunningWorker } from '../../worker-gpu/src/server';
import { startChildWorker } from './helpers/child-worker';
import { startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { metric, postGenerate, startTestWorker, workerEnv, workerFetch } from './helpers/worker';

const MODEL = { name: 'tiny-core', version: '0.1.0' };
const REQUEST: GenerationRequest = {
  prompt: [40, 41, 42, 43, 44],
  steps: 12,
  maxTokens: 50,
  seed: 42,
  topP: 0.9,
  earlyStopPatience: 0,
  stopAtEos: false,
};

let s3: TestS3;
let reference: RunningWorker;
/** A worker whose steps use the step graphs (noise, compaction and the fused loop's step math in onnxruntime). */
let graphWorker: RunningWorker;
const GRAPHS = { WORKER_STEP_GRAPHS: 'on' };
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
  reference = await startTestWorker(s3);
  graphWorker = await startTestWorker(s3, GRAPHS);
});
afterAll(async () => {
  await reference?.close();
  await graphWorker?.close();
  await s3?.close();
});

describe('stateless workers', () => {
  for (const mode of ['auto', 'on'] as const) {
    it(
      `a generation driven step by step survives killing its worker mid-block: same tokens as an uninterrupted run and as a fused run ` +
        `(step graphs ${mode})`,
      async () => {
        const env = mode === 'on' ? GRAPHS : {};
        const home = mode === 'on' ? graphWorker : reference;
        // Uninterrupted: the shared block loop on this machine, every step on one worker over HTTP.
        const steady = await RemoteDenoiser.connect({ endpoint: home.url, model: MODEL, fetch: workerFetch });
        const expected = await generateAll({ core: steady }, REQUEST);
        expect(expected.tokens).toHaveLength(50);

        // Interrupted: steps go to a worker process that is killed (SIGKILL) before step 17 (block 1, step 5);
        // the rest go to a fresh worker with empty caches, which asks for the context again (409).
        const first = await startChildWorker(workerEnv(s3, env));
        let target = first.url;
        let fresh: RunningWorker | undefined;
        let steps = 0;
        const failover: typeof fetch = async (input, init) => {
          const url = String(input);
          if (url.endsWith('/v1/step') && ++steps === 17) {
            await first.kill();
            fresh = await startTestWorker(s3, env);
            target = fresh.url;
          }
          return workerFetch(url.replace('http://worker', target), init);
        };
        try {
          const remote = await RemoteDenoiser.connect({ endpoint: 'http://worker', model: MODEL, fetch: failover });
          const resumed = await generateAll({ core: remote }, REQUEST);
          expect(first.child.exitCode ?? first.child.signalCode).toBe('SIGKILL');
          expect(fresh).toBeDefined();
          expect(resumed.tokens).toEqual(expected.tokens);
          expect(
            metric(await (await workerFetch(`${fresh!.url}/metrics`)).text(), 'ssd2_worker_errors_total{code="context_unknown"}'),
          ).toBe(1);
          expect(remote.requests).toBe(24 + 1); // 2 blocks x 12 steps, plus the one re-send
        } finally {
          await fresh?.close();
          if (first.child.exitCode === null && first.child.signalCode === null) await first.kill();
        }

        // Fused: the worker runs the same loop itself and streams each block.
        const { status, events } = await postGenerate(home.url, {
          v: PROTOCOL_VERSION,
          model: MODEL,
          prompt: REQUEST.prompt,
          options: { ...REQUEST, prompt: undefined },
        });
        expect(status).toBe(200);
        expect(events.map((e) => e.type)).toEqual(['block', 'block', 'done']);
        const done = events.at(-1)!;
        expect(done.type === 'done' && done.tokens).toEqual(expected.tokens);
      },
    );
  }

  it('answers bad fused requests with 4xx before streaming', async () => {
    const base = { v: PROTOCOL_VERSION, model: MODEL, prompt: [1, 2, 3] };
    const cases: [unknown, number, string][] = [
      [{ ...base, prompt: Array(200).fill(1) }, 400, 'prompt'],
      [{ ...base, prompt: [1, 600] }, 400, 'prompt'],
      [{ ...base, options: { steps: 0 } }, 400, 'options.steps'],
      [{ ...base, options: { blockSize: 30 } }, 400, 'options.blockSize'],
      [{ ...base, options: { steps: 4, lambda: [0.5, 0.5] } }, 400, 'options.lambda'],
      [{ ...base, options: { stpes: 4 } }, 400, 'options.stpes'],
      [{ ...base, topK: 1000 }, 400, 'topK'],
      [{ ...base, model: { name: 'missing', version: '1' } }, 404, 'model'],
    ];
    for (const [body, status, field] of cases) {
      const res = await postGenerate(reference.url, body);
      expect({ status: res.status, field: res.json?.error?.field }, JSON.stringify(res.json)).toEqual({ status, field });
    }
  });
});
