import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, newTenant, readRest, sseEvents, stubControl, stubLog, uniqueSeed } from '../../test/helpers';
import { codecOf } from '../../test/codec';
import { privateContextPrefix } from '../../../shared/prompt/instruction';

const base = { model: 'tiny-core', prompt: 'The cat sat on the', max_tokens: 40, steps: 10 };

async function text(res: Response): Promise<string> {
  expect(res.status).toBe(200);
  return ((await res.json()) as any).choices[0].text;
}

describe('the worker pool', () => {
  it('signs every GPU worker request for the calling tenant, fused and per step (the stub refuses unsigned ones)', async () => {
    const { key, tenantId } = await newTenant();
    for (const mode of ['fused', 'per_step']) {
      const seed = uniqueSeed();
      await text(await api('/v1/completions', key, { ...base, seed, mode }));
      const log = await stubLog(seed);
      expect(log.length).toBeGreaterThan(0);
      expect(log.every((r) => r.tenant === tenantId && r.outcome === 'ok')).toBe(true);
    }
  });

  it('retries a failed step on the other worker (per-step mode) and gets the same tokens', async () => {
    const { key } = await newTenant();
    const seed2 = uniqueSeed();
    await stubControl('fail-once', seed2);
    const failed = await text(await api('/v1/completions', key, { ...base, seed: seed2, mode: 'per_step' }));
    const log = await stubLog(seed2);
    const failure = log.findIndex((r) => r.outcome === 'failed');
    expect(failure).toBeGreaterThanOrEqual(0);
    const retry = log[failure + 1];
    expect(retry.path).toBe('/v1/step');
    expect(retry.host).not.toBe(log[failure].host);
    expect(retry.body.step).toBe(log[failure].body.step);
    expect(retry.outcome).toBe('ok');
    // A run of the same seed without the failure gives the same text.
    expect(await text(await api('/v1/completions', key, { ...base, seed: seed2, mode: 'per_step' }))).toBe(failed);
  });

  it('fails over from a worker that accepts a fused request and never answers (GPU_WORKER_TIMEOUT_MS), with the same text', async () => {
    const { key } = await newTenant();
    const seed = uniqueSeed();
    const expected = await text(await api('/v1/completions', key, { ...base, seed }));
    await stubControl('hang-once', seed);
    const started = Date.now();
    expect(await text(await api('/v1/completions', key, { ...base, seed }))).toBe(expected);
    expect(Date.now() - started).toBeLessThan(20_000);
    const generates = (await stubLog(seed)).filter((r) => r.path === '/v1/generate');
    expect(generates.map((r) => r.outcome)).toEqual(['ok', 'aborted', 'ok']);
    expect(generates[2].host).not.toBe(generates[1].host);
  });

  it('restarts a fused generation on another worker when one dies mid-stream, without repeating blocks', async () => {
    const { key } = await newTenant();
    const seed = uniqueSeed();
    const expected = await text(await api('/v1/completions', key, { ...base, seed }));
    await stubControl('abort-once', seed);
    const res = await api('/v1/completions', key, { ...base, seed, stream: true });
    const events = (await sseEvents(res)) as any[];
    const blocks = events.filter((e) => e.ssd2?.block !== undefined);
    expect(blocks.map((e) => e.ssd2.block)).toEqual([0, 1]);
    expect(blocks.map((e) => e.choices[0].text).join('')).toBe(expected);
    const generates = (await stubLog(seed)).filter((r) => r.path === '/v1/generate');
    expect(generates.map((r) => r.outcome)).toEqual(['ok', 'aborted', 'ok']);
    expect(generates[2].host).not.toBe(generates[1].host);
  });
});

describe('private context', () => {
  it('goes only to the user model: the core prompt the GPU worker receives never holds it', async () => {
    const { key } = await newTenant();
    const seed = uniqueSeed();
    const secret = 'The password is swordfish.';
    const res = await api('/v1/completions', key, { ...base, seed, user_model: 'my-adapter', private_context: secret, lambda: 0.9 });
    const withUser = await text(res);
    const [req] = await stubLog(seed);
    const codec = codecOf();
    expect(req.body.prompt).toEqual(codec.encode(base.prompt));
    expect(JSON.stringify({ ...req.body, user: undefined })).not.toContain(JSON.stringify(codec.encode(' swordfish')).slice(1, -1));
    expect(codec.decode(req.body.user.context)).toBe(privateContextPrefix(secret));
    expect(req.body.user).toMatchObject({ bundle: 'my-adapter' });
    // λ = 0.9 toward the user model changes the answer.
    expect(withUser).not.toBe(await text(await api('/v1/completions', key, { ...base, seed })));
  });

  it('answers 404 for a user model bundle the tenant does not have', async () => {
    const { key } = await newTenant();
    const res = await api('/v1/completions', key, { ...base, user_model: 'missing' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error).toMatchObject({ param: 'user_model', code: 'user_model_not_found' });
  });
});

describe('generations belong to their tenant', () => {
  it("hides, and refuses to cancel or join, another tenant's generation", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const created = await api('/v1/generations', owner.key, {});
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await api(`/v1/generations/${id}`, owner.key)).status).toBe(200);
    expect((await api(`/v1/generations/${id}`, other.key)).status).toBe(404);
    expect((await api(`/v1/generations/${id}`, other.key, undefined, { method: 'DELETE' })).status).toBe(404);
    const join = await SELF.fetch(`https://edge.test/v1/generations/${id}/client`, {
      headers: { upgrade: 'websocket', authorization: `Bearer ${other.key}` },
    });
    expect(join.status).toBe(404);
    expect(join.webSocket).toBeNull();
    const run = await api('/v1/completions', other.key, { ...base, generation_id: id, client_model: {} });
    expect(run.status).toBe(404);
    expect((await api(`/v1/generations/not-an-id`, owner.key)).status).toBe(404);
  });

  it('lets the owner cancel a running generation, which ends the stream cleanly', async () => {
    const { key } = await newTenant();
    const res = await api('/v1/completions', key, {
      ...base,
      max_tokens: 2000,
      steps: 200,
      early_stop: 0,
      mode: 'per_step',
      stream: true,
      seed: uniqueSeed(),
    });
    const id = res.headers.get('x-ssd2-generation-id')!;
    const reader = res.body!.getReader();
    await reader.read();
    const cancel = await api(`/v1/generations/${id}`, key, undefined, { method: 'DELETE' });
    expect(cancel.status).toBe(200);
    const rest = await readRest(reader);
    expect(rest).toContain('generation_cancelled');
    const status = (await (await api(`/v1/generations/${id}`, key)).json()) as any;
    expect(status).toMatchObject({ phase: 'cancelled', mode: 'per_step', client_connected: false });
    // Without progress events in the stream, the status still follows the steps.
    expect(status.step).toBeGreaterThan(0);
    const again = await api(`/v1/generations/${id}`, key, undefined, { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as any).error).toMatchObject({ code: 'generation_ended', param: 'generation_id' });
  });

  it("reports a fused generation's finished blocks, the block it is on, and no step (the worker runs them)", async () => {
    const { key } = await newTenant();
    const res = await api('/v1/completions', key, { ...base, max_tokens: 50, seed: uniqueSeed() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const status = (await (await api(`/v1/generations/${res.headers.get('x-ssd2-generation-id')}`, key)).json()) as any;
    expect(status).toMatchObject({ object: 'generation', phase: 'done', mode: 'fused', step: null });
    expect(status.blocks_done).toBe(body.ssd2.blocks);
    expect(status.block).toBe(body.ssd2.blocks);
    expect(status.tokens).toBe(body.usage.completion_tokens);
  });
});
