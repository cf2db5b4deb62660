import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { adminFetch, api, newTenant, readRest, sseEvents, stubOutage, uniqueSeed } from '../../test/helpers';
import { costMicroUsd, priceTable } from '../billing/prices';
import { ANONYMOUS } from '.';

const base = { model: 'tiny-core', prompt: 'The cat sat on the', max_tokens: 30, steps: 6 };
const rows = async (tenantId: string) =>
  (await env.DB.prepare('SELECT * FROM usage WHERE tenant_id = ? ORDER BY created_at').bind(tenantId).all<any>()).results;
const price = (r: { prompt_tokens: number; completion_tokens: number; steps_run: number }) =>
  costMicroUsd(priceTable(env.PRICES), {
    model: 'tiny-core',
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    stepsRun: r.steps_run,
    batch: false,
  });

describe('metering: one usage record per call', () => {
  it('records a non-streamed call with its fields and price before answering', async () => {
    const { tenantId, key, keyId } = await newTenant();
    const res = await api('/v1/completions', key, { ...base, seed: uniqueSeed() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const [row] = await rows(tenantId);
    expect(row).toMatchObject({
      id: res.headers.get('x-request-id'),
      key_id: keyId,
      kind: 'completion',
      status: 'ok',
      model: 'tiny-core',
      mode: 'fused',
      collaboration: 'none',
      prompt_tokens: body.usage.prompt_tokens,
      completion_tokens: 30,
      steps_run: body.ssd2.steps_run,
      steps_saved: body.ssd2.steps_saved,
      finish_reason: 'length',
    });
    expect(row.worker_ms).toBeGreaterThanOrEqual(0);
    expect(row.cost_micro_usd).toBe(price(row));
    expect(row.cost_micro_usd).toBeGreaterThan(0);
    expect(Number(res.headers.get('x-ssd2-cost-usd'))).toBeCloseTo(row.cost_micro_usd / 1e6, 6);
  });

  it('records a streamed call (per-step mode) before the stream ends, and its cost is in the finish chunk', async () => {
    const { tenantId, key } = await newTenant();
    const res = await api('/v1/chat/completions', key, {
      model: 'tiny-core',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 20,
      steps: 5,
      mode: 'per_step',
      stream: true,
      seed: uniqueSeed(),
    });
    const events = (await sseEvents(res)) as any[];
    expect(events.at(-1)).toBe('[DONE]');
    const [row] = await rows(tenantId); // read right after the last byte: no waiting
    expect(row).toMatchObject({ kind: 'chat', status: 'ok', mode: 'per_step', completion_tokens: 20 });
    expect(events.at(-2).ssd2.cost_usd).toBeCloseTo(row.cost_micro_usd / 1e6, 6);
  });

  /** Reads SSE chunks until the first finished block; returns the reader and what that block carried. */
  async function firstBlock(res: Response): Promise<{ reader: ReadableStreamDefaultReader<Uint8Array>; steps: number }> {
    const reader = res.body!.getReader();
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) throw new Error('the stream ended before a block');
      buffered += new TextDecoder().decode(value);
      const block = buffered
        .split('\n')
        .filter((l) => l.startsWith('data: {'))
        .map((l) => JSON.parse(l.slice(6)))
        .find((c) => c.ssd2?.block !== undefined);
      if (block) return { reader, steps: block.ssd2.steps_run };
    }
  }
  const longRun = { ...base, max_tokens: 2000, steps: 40, early_stop: 0, mode: 'per_step', stream: true };

  it('charges a generation the caller cancels for the blocks it was sent (status partial)', async () => {
    const { tenantId, key } = await newTenant();
    const res = await api('/v1/completions', key, { ...longRun, seed: uniqueSeed() });
    const { reader, steps } = await firstBlock(res);
    expect((await api(`/v1/generations/${res.headers.get('x-ssd2-generation-id')}`, key, undefined, { method: 'DELETE' })).status).toBe(
      200,
    );
    while (!(await reader.read()).done);
    const [row] = await rows(tenantId);
    expect(row).toMatchObject({ status: 'partial', error_code: 'generation_cancelled' });
    expect(row.steps_run).toBeGreaterThanOrEqual(steps);
    expect(row.completion_tokens).toBeGreaterThan(0);
    expect(row.cost_micro_usd).toBe(price(row));
    expect(row.cost_micro_usd).toBeGreaterThan(0);
  });

  it.each([
    ['', {}],
    [' (with an Idempotency-Key, whose claim is then released)', { 'idempotency-key': 'dropped-1' }],
  ])('charges a stream the caller drops for the blocks it was sent (status partial, client_disconnected)%s', async (_name, headers) => {
    const { tenantId, key } = await newTenant();
    const res = await api('/v1/completions', key, { ...longRun, seed: uniqueSeed() }, { headers });
    const { reader, steps } = await firstBlock(res);
    await reader.cancel();
    let row: any;
    for (let i = 0; i < 50 && !row; i++) {
      [row] = await rows(tenantId);
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    expect(row).toMatchObject({ status: 'partial', error_code: 'client_disconnected' });
    expect(row.steps_run).toBeGreaterThanOrEqual(steps);
    expect(row.cost_micro_usd).toBe(price(row));
    expect(row.cost_micro_usd).toBeGreaterThan(0);
    if ('idempotency-key' in headers) {
      // Nothing was kept for the key: a retry runs again rather than replaying a cut-off stream.
      let retry: Response | undefined;
      for (let i = 0; i < 50 && (!retry || retry.status === 409); i++) {
        if (retry) await new Promise((r) => setTimeout(r, 100));
        retry = await api('/v1/completions', key, { ...base, seed: 1 }, { headers });
      }
      expect(retry!.status).toBe(200); // a key kept for the first call would refuse another body (422)
      expect(retry!.headers.get('idempotent-replayed')).toBeNull();
    }
  });

  it('records what a generation the platform failed had delivered, at no cost', async () => {
    const { tenantId, key } = await newTenant();
    const seed = uniqueSeed();
    const res = await api('/v1/completions', key, { ...longRun, seed });
    const { reader, steps } = await firstBlock(res);
    await stubOutage([seed], 60_000); // every GPU worker refuses this generation's next steps
    const rest = await readRest(reader);
    expect(rest).toContain('upstream_unavailable');
    const [row] = await rows(tenantId);
    expect(row).toMatchObject({ status: 'failed', error_code: 'upstream_unavailable', cost_micro_usd: 0 });
    expect(row.steps_run).toBeGreaterThanOrEqual(steps);
    expect(row.completion_tokens).toBeGreaterThan(0);
  });

  it('records blocked and failed calls at no cost', async () => {
    const { tenantId, key } = await newTenant({ policy: { blocked_terms: ['secret'] } });
    expect((await api('/v1/completions', key, { ...base, prompt: 'the secret word' })).status).toBe(400);
    expect((await api('/v1/completions', key, { ...base, model: 'nope' })).status).toBe(404);
    expect((await api('/v1/completions', key, { ...base, steps: 0 })).status).toBe(400);
    const r = await rows(tenantId);
    expect(r.map((x) => [x.status, x.error_code, x.cost_micro_usd])).toEqual([
      ['blocked', 'prompt_blocked', 0],
      ['failed', 'model_not_found', 0],
      ['failed', 'invalid_argument', 0],
    ]);
    expect(r[0].model).toBe('tiny-core');
  });

  it('reports usage by day and by key, as JSON and CSV, for the own tenant only; admin sees every tenant', async () => {
    const a = await newTenant();
    const b = await newTenant();
    for (const t of [a, a, b]) expect((await api('/v1/completions', t.key, { ...base, seed: uniqueSeed() })).status).toBe(200);
    const byDay = (await (await api('/v1/usage', a.key)).json()) as any;
    expect(byDay.data).toHaveLength(1);
    expect(byDay.data[0]).toMatchObject({ day: new Date().toISOString().slice(0, 10), calls: 2, ok: 2, completion_tokens: 60 });
    const spent = (await rows(a.tenantId)).reduce((s, r) => s + r.cost_micro_usd, 0);
    expect(byDay.total.cost_micro_usd).toBe(spent);
    const byKey = (await (await api('/v1/usage?group_by=key', a.key)).json()) as any;
    expect(byKey.data.map((r: any) => r.key_id)).toEqual([a.keyId]);
    const csv = await (await api('/v1/usage?group_by=key&format=csv', a.key)).text();
    expect(csv.split('\n')[0]).toBe(
      'tenant_id,key_id,calls,ok,partial,blocked,failed,replayed,' +
        'prompt_tokens,completion_tokens,steps_run,steps_saved,worker_ms,cost_micro_usd,cost_usd',
    );
    expect(csv).toContain(`${a.tenantId},${a.keyId},2,2`);
    expect(csv).not.toContain(b.tenantId);
    expect((await api(`/v1/usage?tenant_id=${b.tenantId}`, a.key)).status).toBe(400);
    for (const [query, param, message] of [
      ['group_by=tenant', 'group_by', /^group_by: day or key/],
      ['from=2026-13-01', 'from', /YYYY-MM-DD/],
      ['to=2026-02-30', 'to', /YYYY-MM-DD/],
      ['from=2026-03-02&to=2026-03-01', 'from', /^from: must not be after to \(2026-03-01\)$/],
    ] as const) {
      const res = await api(`/v1/usage?${query}`, a.key);
      expect(res.status, query).toBe(400);
      const { error } = (await res.json()) as any;
      expect(error.param, query).toBe(param);
      expect(error.message, query).toMatch(message);
    }
    const all = (await (await adminFetch('/admin/usage?group_by=tenant')).json()) as any;
    const tenants = all.data.map((r: any) => r.tenant_id);
    expect(tenants).toEqual(expect.arrayContaining([a.tenantId, b.tenantId]));
    const one = (await (await adminFetch(`/admin/usage?tenant_id=${b.tenantId}`)).json()) as any;
    expect(one.total.calls).toBe(1);
  });
});

describe('metering: refusals are calls too (one free usage record each)', () => {
  const byId = (id: string | null) => env.DB.prepare('SELECT * FROM usage WHERE id = ?').bind(id).first<any>();

  it('counts a 401 (no key, unknown key) per minute instead of writing a usage row, and keeps nothing of the request', async () => {
    const refusals = async () =>
      ((await (await adminFetch('/admin/refusals?minutes=5')).json()) as any).data.filter((r: any) => r.kind === 'chat');
    const count = (rs: any[], code: string) => rs.filter((r) => r.error_code === code).reduce((a, r) => a + r.count, 0);
    const before = await refusals();
    for (const [key, code] of [
      [null, 'missing_api_key'],
      ['sk-not-a-real-key', 'invalid_api_key'],
      ['sk-not-a-real-key', 'invalid_api_key'],
    ] as const) {
      const res = await api(
        '/v1/chat/completions',
        key,
        { model: 'tiny-core', messages: [{ role: 'user', content: 'Hi' }] },
        { headers: { 'idempotency-key': 'anonymous-key-never-stored' } },
      );
      expect(res.status).toBe(401);
      expect(res.headers.get('x-request-id')).toMatch(/^req_/);
      expect(((await res.json()) as any).error.code).toBe(code);
      expect(await byId(res.headers.get('x-request-id'))).toBeNull();
    }
    const after = await refusals();
    expect(count(after, 'missing_api_key') - count(before, 'missing_api_key')).toBe(1);
    expect(count(after, 'invalid_api_key') - count(before, 'invalid_api_key')).toBe(2);
    const anon = (await env.DB.prepare('SELECT COUNT(*) AS n FROM usage WHERE tenant_id = ?').bind(ANONYMOUS.tenantId).first<any>())!;
    expect(anon.n).toBe(0);
    const stored = (await env.DB.prepare("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key LIKE '%anonymous-key-never-stored%'")
      .first<any>()
      .catch(() => ({ n: 0 })))!;
    expect(stored.n).toBe(0);
  });

  it('records a 403 (missing scope), a 429 (rate limit) and a 402 (budget) under the caller, free', async () => {
    const readOnly = await newTenant({ scopes: ['usage'] });
    const r403 = await api('/v1/completions', readOnly.key, { ...base, seed: uniqueSeed() });
    expect(r403.status).toBe(403);
    expect(await byId(r403.headers.get('x-request-id'))).toMatchObject({
      tenant_id: readOnly.tenantId,
      key_id: readOnly.keyId,
      kind: 'completion',
      status: 'failed',
      error_code: 'insufficient_scope',
      cost_micro_usd: 0,
    });

    const limited = await newTenant({ rateLimit: 1 });
    expect((await api('/v1/completions', limited.key, { ...base, seed: uniqueSeed() })).status).toBe(200);
    const r429 = await api('/v1/completions', limited.key, { ...base, seed: uniqueSeed() });
    expect(r429.status).toBe(429);
    expect(await byId(r429.headers.get('x-request-id'))).toMatchObject({
      tenant_id: limited.tenantId,
      key_id: limited.keyId,
      status: 'failed',
      error_code: 'rate_limit_exceeded',
      cost_micro_usd: 0,
    });

    const broke = await newTenant();
    await adminFetch(`/admin/tenants/${broke.tenantId}/budget`, { method: 'PUT', body: { monthly_usd: 0 } });
    const r402 = await api('/v1/completions', broke.key, { ...base, seed: uniqueSeed() });
    expect(r402.status).toBe(402);
    expect(await byId(r402.headers.get('x-request-id'))).toMatchObject({
      tenant_id: broke.tenantId,
      status: 'failed',
      error_code: 'tenant_budget_exceeded',
      model: 'tiny-core',
      cost_micro_usd: 0,
    });
    // The usage report shows them (admin: the limited key itself is still rate limited).
    const report = (await (await adminFetch(`/admin/usage?tenant_id=${limited.tenantId}`)).json()) as any;
    expect(report.total).toMatchObject({ calls: 2, ok: 1, failed: 1 });
  });

  it('does not meter non-generation routes (a 401 on /v1/models writes nothing)', async () => {
    const res = await api('/v1/models', null);
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBeNull();
  });
});
