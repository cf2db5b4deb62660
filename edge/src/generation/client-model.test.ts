import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, newTenant, stubLog, uniqueSeed } from '../../test/helpers';
import { joinAsClient, preferLogits } from '../../test/client-model';
import { Generation } from './generation-do';
import { codecOf } from '../../test/codec';

const base = { model: 'tiny-core', prompt: 'The cat sat on the', max_tokens: 10, steps: 6 };

async function newGeneration(key: string): Promise<string> {
  return ((await (await api('/v1/generations', key, {})).json()) as { id: string }).id;
}

describe('client-side user model over the WebSocket', () => {
  it("mixes the client's logits into every step (λ = 1 gives the client's tokens)", async () => {
    const { key } = await newTenant();
    const id = await newGeneration(key);
    const seed = uniqueSeed();
    const client = await joinAsClient(id, key);
    const res = await api('/v1/completions', key, { ...base, seed, lambda: 1, generation_id: id, client_model: { deadline_ms: 2000 } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.ssd2.mode).toBe('per_step');
    expect(body.choices[0].text).toBe(codecOf().decode(Array.from({ length: 10 }, (_, p) => 400 + p)));
    const steps = client.messages.filter((m) => m.type === 'step');
    expect(steps.length).toBeGreaterThan(0);
    // The client got the prompt as context (it adds its private context itself) and the core got the same.
    expect((steps[0] as any).context).toEqual(codecOf().encode(base.prompt));
    expect((await stubLog(seed)).filter((r) => r.path === '/v1/step').length).toBe(steps.length);
    await client.closed;
  });

  it('proceeds with the core alone after the deadline when asked to (same text as no client)', async () => {
    const { key } = await newTenant();
    const seed = uniqueSeed();
    const coreOnly = ((await (await api('/v1/completions', key, { ...base, seed, mode: 'per_step' })).json()) as any).choices[0].text;
    const id = await newGeneration(key);
    await joinAsClient(id, key, () => null);
    const res = await api('/v1/completions', key, {
      ...base,
      seed,
      lambda: 0.7,
      generation_id: id,
      client_model: { deadline_ms: 20, on_timeout: 'core_only' },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).choices[0].text).toBe(coreOnly);
  });

  it.each([
    ['a late client, on_timeout fail', () => null, { deadline_ms: 20, on_timeout: 'fail' }, 408, 'client_timeout'],
    ['malformed logits', (m: any) => ({ type: 'logits', id: m.id, logits: { nonsense: true } }), {}, 400, 'invalid_client_message'],
    [
      'the wrong vocabulary size',
      (m: any) => ({ type: 'logits', id: m.id, logits: { ...preferLogits(m.noise.blockLength, () => 1), vocabSize: 100 } }),
      {},
      400,
      'invalid_client_logits',
    ],
    [
      'token ids outside the vocabulary',
      (m: any) => ({
        type: 'logits',
        id: m.id,
        logits: { ...preferLogits(m.noise.blockLength, () => 1), ids: btoa('\xff\xff'.repeat(16 * m.noise.blockLength)) },
      }),
      {},
      400,
      'invalid_client_logits',
    ],
  ])('fails the generation with a 4xx for %s', async (_name, answer, clientModel, status, code) => {
    const { key } = await newTenant();
    const id = await newGeneration(key);
    const client = await joinAsClient(id, key, answer as never);
    const res = await api('/v1/completions', key, { ...base, generation_id: id, client_model: clientModel });
    expect(res.status).toBe(status);
    expect(((await res.json()) as any).error).toMatchObject({ code, param: 'client_model' });
    await client.closed; // the generation ended and closed the socket
    expect((await api(`/v1/generations/${id}`, key)).status).toBe(200);
  });

  it('answers a step id that is not current with an error message and keeps going', async () => {
    const { key } = await newTenant();
    const id = await newGeneration(key);
    let sentStale = false;
    const client = await joinAsClient(id, key, (m) => {
      if (sentStale) return undefined;
      sentStale = true;
      client.ws.send(JSON.stringify({ type: 'logits', id: m.id + 7, logits: preferLogits(m.noise.blockLength, () => 1) }));
      return undefined;
    });
    const res = await api('/v1/completions', key, { ...base, generation_id: id, client_model: {} });
    expect(res.status).toBe(200);
    expect(client.messages.some((m) => m.type === 'error' && m.code === 'stale_step')).toBe(true);
  });

  it('cancels a non-streamed generation whose caller goes away, and records the call as ended by the caller', async () => {
    const { key } = await newTenant();
    const id = await newGeneration(key);
    let stepArrived!: () => void;
    const firstStep = new Promise<void>((resolve) => {
      stepArrived = resolve;
    });
    await joinAsClient(id, key, () => {
      stepArrived();
      return null; // never answers: the generation waits on its client until the caller gives up
    });
    const abort = new AbortController();
    const call = SELF.fetch('https://edge.test/v1/completions', {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...base, generation_id: id, client_model: { deadline_ms: 60_000 } }),
    });
    await firstStep;
    abort.abort();
    await expect(call).rejects.toThrow();
    let status: any;
    for (let i = 0; i < 50 && status?.phase !== 'cancelled'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await (await api(`/v1/generations/${id}`, key)).json();
    }
    expect(status.phase).toBe('cancelled');
    let usage: any;
    for (let i = 0; i < 50 && !usage?.total.calls; i++) {
      await new Promise((r) => setTimeout(r, 100));
      usage = await (await api('/v1/usage', key)).json();
    }
    expect(usage.total).toMatchObject({ calls: 1, ok: 0, failed: 1 });
  });

  it('fails cleanly when the client disconnects mid-generation', async () => {
    const { key } = await newTenant();
    const id = await newGeneration(key);
    const client = await joinAsClient(id, key, () => {
      client.ws.close(1000, 'bye');
      return null;
    });
    const res = await api('/v1/completions', key, { ...base, generation_id: id, client_model: {} });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('client_disconnected');
  });

  it('times out when no client joins', async () => {
    const { key } = await newTenant();
    const id = await newGeneration(key);
    const res = await api('/v1/completions', key, { ...base, generation_id: id, client_model: { join_timeout_ms: 30 } });
    expect(res.status).toBe(408);
    expect(((await res.json()) as any).error.code).toBe('client_join_timeout');
  });

  it('uses a client that joins again after its socket closed (core_only meanwhile): it answers the later steps', async () => {
    const { key } = await newTenant();
    const id = await newGeneration(key);
    let answered = 0;
    const first = await joinAsClient(id, key, (_m) => (answered++ < 3 ? undefined : null));
    const run = api('/v1/completions', key, {
      ...base,
      max_tokens: 50,
      steps: 12,
      early_stop: 0,
      generation_id: id,
      client_model: { deadline_ms: 200, on_timeout: 'core_only' },
    });
    while (first.messages.filter((m) => m.type === 'step').length < 4) await new Promise((r) => setTimeout(r, 20));
    first.ws.close(1000, 'network change');
    await first.closed;
    const again = await joinAsClient(id, key);
    const res = await run;
    expect(res.status).toBe(200);
    expect(again.messages.find((m) => m.type === 'ready')).toBeDefined();
    expect(again.messages.filter((m) => m.type === 'step').length).toBeGreaterThan(0);
  });

  it('keeps the owner in storage, so an instance started again refuses other tenants', async () => {
    const { key, tenantId } = await newTenant();
    const id = await newGeneration(key);
    const stub = env.GENERATIONS.get(env.GENERATIONS.idFromString(id)) as DurableObjectStub;
    const owner = await runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) =>
      state.storage.get<{ tenantId: string }>('owner'),
    );
    expect(owner).toMatchObject({ tenantId });
    // A fresh instance (as after an eviction) reads the owner back before serving anything.
    const fresh = await runInDurableObject(stub, async (_instance: unknown, state: DurableObjectState) => {
      const again = new Generation(state, env);
      return [await again.reserve('someone-else', 'k'), await again.reserve(tenantId, 'k')];
    });
    expect(fresh).toEqual([false, true]);
  });

  it('keeps how a run ended in storage: an instance started again reports it and refuses to run it twice', async () => {
    const { key, tenantId } = await newTenant();
    const res = await api('/v1/completions', key, { ...base, seed: uniqueSeed() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const id = res.headers.get('x-ssd2-generation-id')!;
    const stub = env.GENERATIONS.get(env.GENERATIONS.idFromString(id)) as DurableObjectStub;
    const fresh = await runInDurableObject(stub, async (_instance: unknown, state: DurableObjectState) => {
      const again = new Generation(state, env);
      const status = await again.status(tenantId);
      const cancelled = await again.cancel(tenantId);
      const spec = {
        tenantId,
        keyId: 'k',
        modelId: 'tiny-core',
        model: { name: 'tiny-core', version: '0.1.0' },
        prompt: [1, 2, 3],
        options: {},
        mode: 'fused',
        progress: false,
      };
      const rerun = await again.fetch(new Request('https://generation/run', { method: 'POST', body: JSON.stringify(spec) }));
      return { status, cancelled, rerun: await rerun.json() };
    });
    expect(fresh.status).toMatchObject({ phase: 'done', mode: 'fused', model: 'tiny-core', blocks_done: body.ssd2.blocks, step: null });
    expect(fresh.cancelled).toBe('done'); // ended: nothing to cancel (the route answers 409 generation_ended)
    expect(fresh.rerun).toMatchObject({ status: 409, error: { code: 'generation_already_started' } });
  });

  it('refuses to run a reserved generation its owner cancelled (409), before and after an eviction', async () => {
    const { key, tenantId } = await newTenant();
    const id = await newGeneration(key);
    expect((await api(`/v1/generations/${id}`, key, undefined, { method: 'DELETE' })).status).toBe(200);
    const run = await api('/v1/completions', key, { ...base, generation_id: id, client_model: { join_timeout_ms: 100 } });
    expect(run.status).toBe(409);
    expect(((await run.json()) as any).error).toMatchObject({ code: 'generation_already_started', param: 'generation_id' });
    const stub = env.GENERATIONS.get(env.GENERATIONS.idFromString(id)) as DurableObjectStub;
    const phase = await runInDurableObject(
      stub,
      async (_instance: unknown, state: DurableObjectState) => (await new Generation(state, env).status(tenantId))?.phase,
    );
    expect(phase).toBe('cancelled');
  });
});
