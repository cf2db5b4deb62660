import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactLogits, compactTopIds, densifyLogits, PROTOCOL_VERSION, wireView, type StepRequestInput } from '../../shared/protocol';
import { generateAll, mixLogits } from '../../shared/ssd2';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import type { RunningWorker } from '../../worker-gpu/src/server';
import { copyBundle, editManifest } from '../helpers/bundle-copy';
import { maxAbsDiff } from '../helpers/tensors';
import { ROOT } from '../helpers/paths';
import { stepRequest, TINY_CORE } from '../helpers/step-request';
import { startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { postGenerate, postJson, startTestWorker, workerFetch } from './helpers/worker';

const TINY = join(ROOT, 'models/tiny-core');

function request(user: Record<string, unknown>): StepRequestInput {
  return stepRequest({
    seed: 3,
    context: [10, 11, 12],
    topK: 24,
    user: { tenant: 'acme', bundle: 'adapters/legal', lambda: 0.3, context: [99, 98, 10, 11, 12], ...user } as StepRequestInput['user'],
  });
}

let s3: TestS3;
let w: RunningWorker;
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
  await s3.upload(TINY, 'tenants/acme/adapters/legal/');
  await s3.upload(TINY, 'tenants/globex/secret/');
  const otherVocab = copyBundle(TINY);
  editManifest(otherVocab, (m) => (m.vocab_size = 600));
  await s3.upload(otherVocab, 'tenants/acme/other-vocab/');
  w = await startTestWorker(s3);
});
afterAll(async () => {
  await w?.close();
  await s3?.close();
});

describe('per-request user models', () => {
  it('loads the tenant bundle, returns its raw logits and the λ-mixed ones (shared mixLogits)', async () => {
    const res = await postJson(`${w.url}/v1/step`, request({}));
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const { logits, user, mixed } = res.json;
    expect(user.logits.k).toBe(24);
    expect(mixed).toEqual(compactLogits(mixLogits(densifyLogits(logits), densifyLogits(user.logits), 0.3), 24));
    // The user model saw its own (private + prompt) context: its logits differ from the core's.
    expect(user.logits.values).not.toEqual(logits.values);
    // The tenant-qualified form names the same bundle.
    const again = await postJson(`${w.url}/v1/step`, request({ bundle: 'tenants/acme/adapters/legal' }));
    expect(again.json.user.logits).toEqual(user.logits);
  });

  it(
    'mixes in the step graphs too (WORKER_STEP_GRAPHS=on): the same ids as mixLogits, values within 1e-4; λ = 0 is the core as it ' + 'is',
    async () => {
      const graphs = await startTestWorker(s3, { WORKER_STEP_GRAPHS: 'on' });
      try {
        const res = await postJson(`${graphs.url}/v1/step`, request({}));
        expect(res.status, JSON.stringify(res.json)).toBe(200);
        const { logits, user, mixed } = res.json;
        const reference = compactLogits(mixLogits(densifyLogits(logits), densifyLogits(user.logits), 0.3), 24);
        expect(compactTopIds(mixed)).toEqual(compactTopIds(reference));
        const values = (c: typeof mixed) => densifyLogits(c).data;
        expect(maxAbsDiff(values(mixed), values(reference))).toBeLessThan(1e-4);
        const coreOnly = await postJson(`${graphs.url}/v1/step`, request({ lambda: 0 }));
        expect(coreOnly.json.mixed).toEqual(coreOnly.json.logits);
      } finally {
        await graphs.close();
      }
    },
  );

  it.each([
    ['../globex/secret'],
    ['tenants/globex/secret'],
    ['adapters/../../globex/secret'],
    ['/tenants/globex/secret'],
    ['s3://models/tenants/globex/secret'],
    ['./adapters/legal'],
  ])("never serves another tenant's prefix: %s → 403", async (bundle) => {
    const res = await postJson(`${w.url}/v1/step`, request({ bundle }));
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({ code: 'forbidden', field: 'user.bundle' });
  });

  it('refuses a user model whose vocabulary differs from the core (422), and a missing one (404)', async () => {
    const res = await postJson(`${w.url}/v1/step`, request({ bundle: 'other-vocab' }));
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'incompatible_models', field: 'user.bundle' });
    expect(res.json.error.message).toMatch(/vocab_size 600 != 513/);
    const missing = await postJson(`${w.url}/v1/step`, request({ bundle: 'adapters/none' }));
    expect(missing.status).toBe(404);
    expect(missing.json.error.field).toBe('user.bundle');
    const badTenant = await postJson(`${w.url}/v1/step`, request({ tenant: '../globex' }));
    expect(badTenant.status).toBe(400);
    expect(badTenant.json.error.field).toBe('user.tenant');
  });

  it('runs a fused generation with the user model, and refuses the same violations there', async () => {
    const body = {
      v: PROTOCOL_VERSION,
      model: TINY_CORE,
      prompt: [10, 11, 12],
      options: { steps: 5, maxTokens: 10, lambda: 0.5, seed: 2 },
      user: { tenant: 'acme', bundle: 'adapters/legal', context: [99, 98] },
    };
    const ok = await workerFetch(`${w.url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(ok.status).toBe(200);
    const last = JSON.parse((await ok.text()).trim().split('\n').at(-1)!);
    expect(last).toMatchObject({ type: 'done', finishReason: expect.any(String) });
    for (const [bundle, status, code] of [
      ['tenants/globex/secret', 403, 'forbidden'],
      ['other-vocab', 422, 'incompatible_models'],
    ] as const) {
      const res = await postJson(`${w.url}/v1/generate`, { ...body, user: { ...body.user, bundle } });
      expect(res.status).toBe(status);
      expect(res.json.error).toMatchObject({ code, field: 'user.bundle' });
    }
  });

  it("mixes the two models' full logits in a fused generation (SSD-2's formula over the whole vocabulary), in process and on generation threads", async () => {
    const threaded = await startTestWorker(s3, { WORKER_GENERATION_THREADS: '2' });
    try {
      const options = { steps: 6, maxTokens: 20, minTokens: 20, lambda: 0.7, seed: 5, topP: 0.9 };
      const body = {
        v: PROTOCOL_VERSION,
        model: TINY_CORE,
        prompt: [10, 11, 12],
        options,
        user: { tenant: 'acme', bundle: 'adapters/legal', context: [99, 98] },
      };
      const tokens = async (url: string) => {
        const { status, events } = await postGenerate(url, body);
        expect(status).toBe(200);
        return (events.at(-1) as { tokens: number[] }).tokens;
      };
      const [core, user] = await Promise.all([loadLocalModel(TINY), loadLocalModel(TINY)]);
      const request = { ...options, prompt: body.prompt, userContext: body.user.context };
      const full = (await generateAll({ core: core.denoiser, user: user.denoiser }, request)).tokens;
      const eachTopK = (await generateAll({ core: wireView(core.denoiser, 32), user: wireView(user.denoiser, 32) }, request)).tokens;
      expect(eachTopK).not.toEqual(full); // what mixing each model's top-32 would have given
      expect(await tokens(w.url)).toEqual(full);
      expect(await tokens(threaded.url)).toEqual(full);
      // λ 0 throughout: the core's own text, to the bit (as without the user model).
      const { user: _user, ...coreOnly } = body;
      const alone = await postGenerate(w.url, coreOnly);
      const atZero = await postGenerate(w.url, { ...body, options: { ...options, lambda: 0 } });
      expect(atZero.events.at(-1)).toEqual(alone.events.at(-1));
    } finally {
      await threaded.close();
    }
  });

  it("counts tenants' open user models in /healthz (which needs no token) without naming them", async () => {
    const health = await (await fetch(`${w.url}/healthz`)).json();
    expect(health.tenantModels).toBeGreaterThan(0);
    expect(JSON.stringify(health)).not.toMatch(/tenants\/|acme|adapters/);
    expect(health.models.map((m: { name: string }) => m.name)).toContain('tiny-core');
  });
});
