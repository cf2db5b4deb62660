import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, newTenant, sseEvents, stubLog, uniqueSeed } from '../../test/helpers';

const usage = async (tenantId: string) =>
  (await env.DB.prepare('SELECT status, cost_micro_usd FROM usage WHERE tenant_id = ? ORDER BY created_at').bind(tenantId).all<any>())
    .results;

describe('Idempotency-Key', () => {
  it('answers a retried call with the first result and charges it once', async () => {
    const { tenantId, key } = await newTenant();
    const seed = uniqueSeed();
    const req = { model: 'tiny-core', prompt: 'The cat', max_tokens: 20, steps: 5, seed };
    const first = await api('/v1/completions', key, req, { headers: { 'idempotency-key': 'order-1' } });
    const again = await api('/v1/completions', key, req, { headers: { 'idempotency-key': 'order-1' } });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.text()).toBe(await first.text());
    expect((await stubLog(seed)).filter((r) => r.path === '/v1/generate')).toHaveLength(1); // ran once
    const rows = await usage(tenantId);
    expect(rows.map((r) => r.status)).toEqual(['ok', 'replayed']);
    expect(rows[0].cost_micro_usd).toBeGreaterThan(0);
    expect(rows[1].cost_micro_usd).toBe(0);
  });

  it('replays a stream whole, refuses the key with another body, and keys are per tenant', async () => {
    const { key } = await newTenant();
    const other = await newTenant();
    const seed = uniqueSeed();
    const req = { model: 'tiny-core', prompt: 'The cat', max_tokens: 30, steps: 5, seed, stream: true };
    const first = await sseEvents(await api('/v1/completions', key, req, { headers: { 'idempotency-key': 's-1' } }));
    let replay: Response | undefined;
    for (let i = 0; i < 50 && replay?.status !== 200; i++) {
      replay = await api('/v1/completions', key, req, { headers: { 'idempotency-key': 's-1' } }); // the stream is kept once it has ended
      if (replay.status === 409) await new Promise((r) => setTimeout(r, 50));
    }
    expect(replay!.headers.get('content-type')).toContain('text/event-stream');
    expect(await sseEvents(replay!)).toEqual(first);
    const reused = await api('/v1/completions', key, { ...req, prompt: 'Another' }, { headers: { 'idempotency-key': 's-1' } });
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as any).error.code).toBe('idempotency_key_reused');
    const theirs = await api('/v1/completions', other.key, { ...req, stream: false }, { headers: { 'idempotency-key': 's-1' } });
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect((await stubLog(seed)).filter((r) => r.path === '/v1/generate')).toHaveLength(2);
  });

  it("replays a batch creation naming the original call's request id", async () => {
    const { key } = await newTenant();
    const form = new FormData();
    form.append('purpose', 'batch');
    const line = {
      custom_id: 'a',
      method: 'POST',
      url: '/v1/completions',
      body: { model: 'tiny-core', prompt: 'Hi', max_tokens: 4, steps: 3 },
    };
    form.append('file', new File([`${JSON.stringify(line)}\n`], 'in.jsonl'));
    const file = (await (
      await SELF.fetch('https://edge.test/v1/files', { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form })
    ).json()) as any;
    const body = { input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h' };
    const first = await api('/v1/batches', key, body, { headers: { 'idempotency-key': 'b-1' } });
    expect(first.status).toBe(200);
    const id = first.headers.get('x-request-id');
    expect(id).toMatch(/^req/);
    const again = await api('/v1/batches', key, body, { headers: { 'idempotency-key': 'b-1' } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-original-request-id')).toBe(id);
  });

  it('expires a kept response after the TTL and releases a claim left pending past its deadline', async () => {
    const { tenantId, key } = await newTenant();
    const req = { model: 'tiny-core', prompt: 'The cat', max_tokens: 20, steps: 5 };
    const old = (ms: number) => Date.now() - ms;
    // A response kept 25 hours ago (TTL 24 h) and a claim pending for 31 minutes (deadline 30).
    await env.DB.prepare(
      'INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, status, content_type, body, request_id, created_at) VALUES (?, ' +
        "'expired', 'x', 'done', 200, 'application/json', '{}', NULL, ?)",
    )
      .bind(tenantId, old(25 * 3_600_000))
      .run();
    await env.DB.prepare(
      "INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, request_id, created_at) VALUES (?, 'stuck', 'x', 'pending', " +
        'NULL, ?)',
    )
      .bind(tenantId, old(31 * 60_000))
      .run();
    // A claim pending for a minute still holds its key.
    await env.DB.prepare(
      "INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, request_id, created_at) VALUES (?, 'running', 'x', 'pending', " +
        'NULL, ?)',
    )
      .bind(tenantId, old(60_000))
      .run();
    for (const k of ['expired', 'stuck']) {
      const res = await api('/v1/completions', key, { ...req, seed: uniqueSeed() }, { headers: { 'idempotency-key': k } });
      expect(res.status).toBe(200);
      expect(res.headers.get('idempotent-replayed')).toBeNull();
    }
    // (held: the request differs from the claim's, so 422; a released key would have run)
    const held = await api('/v1/completions', key, { ...req, seed: uniqueSeed() }, { headers: { 'idempotency-key': 'running' } });
    expect(held.status).toBe(422);
    expect(((await held.json()) as any).error.code).toBe('idempotency_key_reused');
  });
});
