import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compactLogits,
  compactTopIds,
  contextHash,
  densifyLogits,
  PROTOCOL_VERSION,
  signWorkerToken,
  workerAuthorization,
  type StepRequestInput,
} from '../../shared/protocol';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import type { RunningWorker } from '../../worker-gpu/src/server';
import { ROOT } from '../helpers/paths';
import { stepRequest, TINY_CORE } from '../helpers/step-request';
import { startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { metric, postGenerate, postJson, signedFetch, startTestWorker, TEST_WORKER_SECRET, workerFetch } from './helpers/worker';

const TINY = join(ROOT, 'models/tiny-core');

const request = (over: Partial<StepRequestInput> = {}) => stepRequest({ seed: 7, steps: 20, context: [5, 6, 7, 8], ...over });

let s3: TestS3;
let w: RunningWorker;

beforeAll(async () => {
  s3 = await startS3WithTinyCore();
  // The bundled core: a shifted readout (a block's first token is read from the token before it).
  await s3.upload(join(ROOT, 'models/core'), 'models/core/0.2.0/');
  w = await startTestWorker(s3);
});
afterAll(async () => {
  await w?.close();
  await s3?.close();
});

describe('POST /v1/step', () => {
  it('returns the logits a local session computes for the same step, in compact form', async () => {
    const local = await loadLocalModel(TINY, ['cpu']);
    const estimate = Array.from({ length: 25 }, (_, i) => (i === 3 ? [10, 11] : [i + 1]));
    const prev = compactLogits(
      (
        await local.denoiser.denoise([
          { context: [5, 6, 7, 8], noise: { seed: 7, block: 0, step: 0, steps: 20, estimate: null, blockLength: 25 }, selfCond: null },
        ])
      )[0],
      32,
    );
    const step = {
      context: [5, 6, 7, 8],
      noise: { seed: 7, block: 0, step: 1, steps: 20, estimate, blockLength: 25 },
      selfCond: densifyLogits(prev),
    };
    const [expected] = await local.denoiser.denoise([step]);
    const res = await postJson(`${w.url}/v1/step`, request({ step: 1, estimate, selfCond: prev, topK: 16 }));
    expect(res.status).toBe(200);
    expect(res.json.logits.k).toBe(16);
    expect(res.json.contextHash).toBe(await contextHash([5, 6, 7, 8]));
    expect(res.json.logits).toEqual(compactLogits(expected, 16));
    expect(res.json.timing.batchSize).toBe(1);
  });

  it('takes a context hash it holds and answers 409 context_unknown for one it does not', async () => {
    const hash = await contextHash([5, 6, 7, 8]);
    const byHash = await postJson(`${w.url}/v1/step`, request({ context: undefined, contextHash: hash }));
    expect(byHash.status).toBe(200);
    const unknown = await postJson(`${w.url}/v1/step`, request({ context: undefined, contextHash: await contextHash([9, 9]) }));
    expect(unknown.status).toBe(409);
    expect(unknown.json.error).toMatchObject({ code: 'context_unknown', field: 'contextHash' });
    const wrong = await postJson(`${w.url}/v1/step`, request({ contextHash: await contextHash([9, 9]) }));
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.field).toBe('contextHash');
  });

  it('batches steps that arrive together into one inference', async () => {
    const before = await (await workerFetch(`${w.url}/metrics`)).text();
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        postJson(`${w.url}/v1/step`, request({ seed: i, context: Array.from({ length: 4 + 10 * i }, (_, j) => j) })),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(Math.max(...replies.map((r) => r.json.timing.batchSize))).toBeGreaterThan(1);
    const after = await (await workerFetch(`${w.url}/metrics`)).text();
    const batches = (t: string) => metric(t, 'ssd2_worker_batch_size_count{model="tiny-core@0.1.0"}');
    const steps = (t: string) => metric(t, 'ssd2_worker_batch_size_sum{model="tiny-core@0.1.0"}');
    expect(steps(after) - steps(before)).toBe(8);
    expect(batches(after) - batches(before)).toBeLessThan(8);
    // Batched (padded, masked) logits agree with one-at-a-time ones up to float error.
    const alone = await postJson(`${w.url}/v1/step`, request({ seed: 7, context: Array.from({ length: 74 }, (_, j) => j) }));
    const together = replies[7].json.logits;
    expect(compactTopIds(alone.json.logits)[0].slice(0, 5)).toEqual(compactTopIds(together)[0].slice(0, 5));
    const a = densifyLogits(alone.json.logits).data;
    const b = densifyLogits(together).data;
    expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThan(1e-4);
  });
});

describe('operations', () => {
  it('reports provider, models and readiness, and Prometheus metrics', async () => {
    const health = await (await fetch(`${w.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', provider: 'cpu', models: [{ name: 'tiny-core', version: '0.1.0' }] });
    expect((await fetch(`${w.url}/readyz`)).status).toBe(200);
    const text = await (await workerFetch(`${w.url}/metrics`)).text();
    expect(metric(text, 'ssd2_worker_provider_info{provider="cpu"}')).toBe(1);
    expect(metric(text, 'ssd2_worker_model_loads_total{source="s3"}')).toBe(1);
    expect(metric(text, 'ssd2_worker_steps_total{model="tiny-core@0.1.0",mode="step"}')).toBeGreaterThan(0);
    expect(metric(text, 'ssd2_worker_kv_cache_hits{model="tiny-core@0.1.0"}')).toBeGreaterThan(0);
    expect(text).toContain('ssd2_worker_step_seconds_bucket');
    expect(text).toContain('ssd2_worker_queue_wait_seconds_bucket{le="0.001",model="tiny-core@0.1.0"}');
    for (const name of ['onnx_seconds_total', 'batch_prep_seconds_total', 'graph_busy_seconds_total'])
      expect(text).toContain(`# TYPE ssd2_worker_${name} counter`);
    expect(metric(text, 'ssd2_worker_onnx_seconds_total{model="tiny-core@0.1.0"}')).toBeGreaterThan(0);
  });

  it("records a fused generation's steps in the queue-wait histogram", async () => {
    const waits = async () =>
      metric(await (await workerFetch(`${w.url}/metrics`)).text(), 'ssd2_worker_queue_wait_seconds_count{model="tiny-core@0.1.0"}');
    const before = await waits();
    const { events } = await postGenerate(w.url, {
      v: PROTOCOL_VERSION,
      model: TINY_CORE,
      prompt: [1, 2, 3],
      options: { steps: 5, maxTokens: 25, earlyStopPatience: 0 },
    });
    expect(events.at(-1)).toMatchObject({ type: 'done', stepsRun: 5 });
    expect((await waits()) - before).toBe(5);
  });

  it('describes a model for remote clients', async () => {
    const res = await workerFetch(`${w.url}/v1/models/tiny-core/0.1.0`);
    expect(await res.json()).toMatchObject({ info: { vocabSize: 513, blockSize: 25, maxContext: 135 } });
  });
});

describe('bad input: 4xx naming the field, never a 5xx', () => {
  const bad = async (body: unknown) => {
    const res = await postJson(`${w.url}/v1/step`, body);
    expect(res.status, JSON.stringify(res.json)).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    return { status: res.status, ...res.json.error };
  };
  const big = compactLogits({ length: 25, vocabSize: 600, data: new Float32Array(25 * 600) }, 8);

  it.each([
    ['malformed JSON', '{"v": 1, "model": ', 400, 'invalid_json', 'body'],
    ['wrong types', { ...request(), seed: 'seven' }, 400, 'invalid_argument', 'seed'],
    ['a missing field', { ...request(), steps: undefined }, 400, 'invalid_argument', 'steps'],
    ['an unknown model', request({ model: { name: 'nope', version: '1' } }), 404, 'model_not_found', 'model'],
    ['a context token outside the vocabulary', request({ context: [1, 513] }), 400, 'invalid_argument', 'context.1'],
    [
      'an estimate token outside the vocabulary',
      request({ step: 1, estimate: Array.from({ length: 25 }, (_, i) => (i === 2 ? [1, 9999] : [1])) }),
      400,
      'invalid_argument',
      'estimate.2.1',
    ],
    ['an oversize context', request({ context: Array(136).fill(1) }), 400, 'invalid_argument', 'context'],
    ['B above the model block size', request({ blockLength: 26 }), 400, 'invalid_argument', 'blockLength'],
    ['B zero', request({ blockLength: 0 }), 400, 'invalid_argument', 'blockLength'],
    ['k above the protocol limit', request({ topK: 257 }), 400, 'invalid_argument', 'topK'],
    ['k zero', request({ topK: 0 }), 400, 'invalid_argument', 'topK'],
    [
      'self-conditioning of another vocabulary',
      request({ step: 1, estimate: Array(25).fill([1]), selfCond: big }),
      400,
      'invalid_argument',
      'selfCond.vocabSize',
    ],
    ['a step past the schedule', request({ step: 20 }), 400, 'invalid_argument', 'step'],
    ['an unknown protocol version', { ...request(), v: 99 }, 400, 'invalid_argument', 'v'],
    [
      'no context for a shifted-readout model',
      request({ model: { name: 'core', version: '0.2.0' }, blockLength: 8, context: [] }),
      400,
      'invalid_argument',
      'context',
    ],
  ])('%s', async (_what, body, status, code, field) => {
    expect(await bad(body)).toMatchObject({ status, code, field });
  });

  it('answers 415 naming the content type when a JSON body is not sent as application/json', async () => {
    for (const [type, named] of [
      ['text/plain', '(got "text/plain")'],
      [undefined, '(none was sent)'],
    ] as const) {
      // A Blob without a type sends no Content-Type header.
      const res = await workerFetch(`${w.url}/v1/step`, {
        method: 'POST',
        body: new Blob([JSON.stringify(request())]),
        headers: type ? { 'content-type': type } : {},
      });
      const { error } = await res.json();
      expect(res.status).toBe(415);
      expect(error).toMatchObject({ code: 'invalid_content_type', field: 'content-type' });
      expect(error.message).toContain(named);
    }
    const charset = await workerFetch(`${w.url}/v1/step`, {
      method: 'POST',
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
      body: JSON.stringify(request()),
    });
    expect(charset.status).toBe(200);
  });

  it('answers 404 JSON for unknown routes and keeps serving afterwards', async () => {
    const res = await workerFetch(`${w.url}/v1/nothing`, { method: 'POST' });
    expect(res.status).toBe(404);
    expect((await postJson(`${w.url}/v1/step`, request())).status).toBe(200);
  });
});

describe('the edge credential', () => {
  const post = (f: typeof fetch, path: string, body: unknown) =>
    f(`${w.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it(
    'is required on every route but /healthz and /readyz: no token, a forged one, an expired one and another secret answer ' + '401',
    async () => {
      const unsigned = await post(fetch, '/v1/step', request());
      expect(unsigned.status).toBe(401);
      expect(unsigned.headers.get('www-authenticate')).toContain('Bearer');
      expect((await unsigned.json()).error.code).toBe('unauthorized');
      expect((await post(fetch, '/v1/generate', { v: PROTOCOL_VERSION, model: TINY_CORE, prompt: [1, 2], options: {} })).status).toBe(401);
      expect((await fetch(`${w.url}/v1/models/tiny-core/0.1.0`)).status).toBe(401);
      expect((await fetch(`${w.url}/metrics`)).status).toBe(401);
      const withToken =
        (token: string): typeof fetch =>
        (input, init) =>
          fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${token}` } });
      const other = await signWorkerToken('another-secret-0123456789abcdefghijklmn', 'dev');
      expect((await post(withToken(other), '/v1/step', request())).status).toBe(401);
      const expired = await signWorkerToken(TEST_WORKER_SECRET, 'dev', Date.now() - 10 * 60_000);
      expect((await post(withToken(expired), '/v1/step', request())).status).toBe(401);
      const [head, payload, sig] = (await signWorkerToken(TEST_WORKER_SECRET, 'dev')).split('.');
      const forged = `${head}.${btoa(JSON.stringify({ ...JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))), tenant: 'acme' }))
        .replace(/=+$/, '')
        .replace(/\+/g, '-')
        .replace(/\//g, '_')}.${sig}`;
      expect((await post(withToken(forged), '/v1/step', request())).status).toBe(401);
      expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${w.url}/readyz`)).status).toBe(200);
      expect((await post(workerFetch, '/v1/step', request())).status).toBe(200);
    },
  );

  it('names the tenant: a user model of another tenant is refused with 403', async () => {
    const body = request({ user: { tenant: 'acme', bundle: 'adapters/x', lambda: 0.5, context: [1], selfCond: null } });
    const res = await post(signedFetch('dev'), '/v1/step', body);
    expect(res.status).toBe(403);
    expect((await res.json()).error).toMatchObject({ code: 'forbidden', field: 'user.tenant' });
  });

  it('accepts any of several secrets (rotation) and the read-only metrics token on /metrics only', async () => {
    const next = 'next-secret-0123456789abcdefghijklmnopq';
    const metricsToken = 'metrics-token-0123456789abcdefghijklmno';
    const rotating = await startTestWorker(s3, {
      WORKER_AUTH_SECRETS: `${TEST_WORKER_SECRET},${next}`,
      WORKER_METRICS_TOKEN: metricsToken,
    });
    try {
      for (const secret of [TEST_WORKER_SECRET, next]) {
        const res = await fetch(`${rotating.url}/v1/step`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: await workerAuthorization(secret, 'dev') },
          body: JSON.stringify(request()),
        });
        expect(res.status).toBe(200);
      }
      expect((await fetch(`${rotating.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).status).toBe(200);
      expect(
        (
          await fetch(`${rotating.url}/v1/step`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${metricsToken}` },
            body: JSON.stringify(request()),
          })
        ).status,
      ).toBe(401);
    } finally {
      await rotating.close();
    }
  });

  it('a worker without WORKER_AUTH_SECRETS, or with a short one, does not start', async () => {
    const { loadConfig } = await import('../../worker-gpu/src/config');
    expect(() => loadConfig({ S3_BUCKET: 'b' })).toThrow(/WORKER_AUTH_SECRETS/);
    expect(() => loadConfig({ S3_BUCKET: 'b', WORKER_AUTH_SECRETS: 'short' })).toThrow(/at least 32/);
  });
});
