import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { adminFetch, api, eventually, newTenant, stubLog, uniqueSeed } from '../../test/helpers';
import { KEY_REMAINING_HEADER, TENANT_REMAINING_HEADER } from '.';

const req = (seed: number) => ({ model: 'tiny-core', prompt: 'The cat', max_tokens: 20, steps: 5, seed });

describe('budgets', () => {
  it('refuses a call that could pass the tenant budget with 402 before any GPU work, and shows what is left', async () => {
    const { tenantId, key } = await newTenant();
    expect((await adminFetch(`/admin/tenants/${tenantId}/budget`, { method: 'PUT', body: { monthly_usd: 0.002 } })).status).toBe(200);
    const ok = await api('/v1/completions', key, req(uniqueSeed()));
    expect(ok.status).toBe(200);
    const left = Number(ok.headers.get(TENANT_REMAINING_HEADER));
    expect(left).toBeCloseTo(0.002 - Number(ok.headers.get('x-ssd2-cost-usd')), 6);
    const seed = uniqueSeed();
    const refused = await api('/v1/completions', key, req(seed));
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as any).error).toMatchObject({ type: 'insufficient_quota', code: 'tenant_budget_exceeded' });
    expect(Number(refused.headers.get(TENANT_REMAINING_HEADER))).toBeCloseTo(left, 6);
    expect(await stubLog(seed)).toEqual([]); // nothing reached a GPU worker
    // Raising the budget lets the same call through.
    await adminFetch(`/admin/tenants/${tenantId}/budget`, { method: 'PUT', body: { monthly_usd: null } });
    expect((await api('/v1/completions', key, req(seed))).status).toBe(200);
  });

  it('refuses a call over the key budget with 429 key_budget_exceeded', async () => {
    const { keyId, key } = await newTenant();
    await adminFetch(`/admin/keys/${keyId}/budget`, { method: 'PUT', body: { monthly_usd: 0.0001 } });
    const seed = uniqueSeed();
    const refused = await api('/v1/completions', key, req(seed));
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as any).error.code).toBe('key_budget_exceeded');
    expect(refused.headers.get(KEY_REMAINING_HEADER)).toBe('0.000100');
    expect(await stubLog(seed)).toEqual([]);
  });
});

describe('budget reservations: concurrent calls cannot pass a budget together', () => {
  const spent = async (tenantId: string) =>
    (await env.DB.prepare('SELECT COALESCE(SUM(cost_micro_usd), 0) AS s, COUNT(*) AS n FROM usage WHERE tenant_id = ?')
      .bind(tenantId)
      .first<{ s: number; n: number }>())!;
  const reservations = async (tenantId: string) =>
    (await env.DB.prepare('SELECT COUNT(*) AS n FROM budget_reservations WHERE tenant_id = ?').bind(tenantId).first<{ n: number }>())!.n;

  it('lets through only the calls whose worst case fits in the tenant budget (402 for the rest, nothing sent for them)', async () => {
    const { tenantId, key } = await newTenant();
    // Worst case of one call: $0.001 + (prompt + 20 tokens) x $0.01/1k + 5 steps x $0.00001 ≈ $0.00127; three fit in $0.004, four do not.
    await adminFetch(`/admin/tenants/${tenantId}/budget`, { method: 'PUT', body: { monthly_usd: 0.004 } });
    const seeds = Array.from({ length: 8 }, () => uniqueSeed());
    const res = await Promise.all(seeds.map((seed) => api('/v1/completions', key, req(seed))));
    const statuses = res.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 402)).toHaveLength(5);
    for (const r of res) if (r.status === 402) expect(((await r.json()) as any).error.code).toBe('tenant_budget_exceeded');
    // Only the admitted calls reached a GPU worker.
    const reached = await Promise.all(seeds.map(async (s) => (await stubLog(s)).length > 0));
    expect(reached).toEqual(statuses.map((s) => s === 200));
    const ledger = await spent(tenantId);
    expect(ledger.n).toBe(8); // every call has its usage row, refusals at 0
    expect(ledger.s).toBeLessThanOrEqual(4000);
    expect(ledger.s).toBeGreaterThan(0);
    expect(await reservations(tenantId)).toBe(0); // every reservation settled
  });

  it('holds a key budget the same way (429 key_budget_exceeded)', async () => {
    const { tenantId, keyId, key } = await newTenant();
    await adminFetch(`/admin/keys/${keyId}/budget`, { method: 'PUT', body: { monthly_usd: 0.0027 } }); // two worst cases fit
    const res = await Promise.all(Array.from({ length: 6 }, () => api('/v1/completions', key, req(uniqueSeed()))));
    const statuses = res.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    expect((await spent(tenantId)).s).toBeLessThanOrEqual(2700);
    expect(await reservations(tenantId)).toBe(0);
  });

  it('reserves per batch line: lines running at once stop at the budget, the rest become error lines', async () => {
    const { tenantId, key } = await newTenant();
    // Each batch alone fits (its worst case is checked at creation); together they do not.
    await adminFetch(`/admin/tenants/${tenantId}/budget`, { method: 'PUT', body: { monthly_usd: 0.005 } });
    const file = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) =>
        JSON.stringify({
          custom_id: `${tag}-${i}`,
          method: 'POST',
          url: '/v1/completions',
          body: { model: 'tiny-core', prompt: `Line ${i}`, max_tokens: 8, steps: 3, seed: uniqueSeed() },
        }),
      ).join('\n') + '\n';
    const ids = await Promise.all(
      ['a', 'b'].map(async (tag) => {
        const form = new FormData();
        form.append('purpose', 'batch');
        form.append('file', new File([file(6, tag)], 'in.jsonl'));
        const f = (await (
          await SELF.fetch('https://edge.test/v1/files', { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form })
        ).json()) as any;
        return f.id as string;
      }),
    );
    const created = await Promise.all(
      ids.map((id) => api('/v1/batches', key, { input_file_id: id, endpoint: '/v1/completions', completion_window: '24h' })),
    );
    expect(created.map((r) => r.status)).toEqual([200, 200]);
    const batches = await Promise.all(created.map(async (r) => ((await r.json()) as any).id as string));
    const finished = await Promise.all(
      batches.map((id) =>
        eventually(async () => {
          const b = (await (await api(`/v1/batches/${id}`, key)).json()) as any;
          return b.status === 'completed' ? b : undefined;
        }, 90_000),
      ),
    );
    const ok = finished.reduce((s, b) => s + b.request_counts.completed, 0);
    const failed = finished.reduce((s, b) => s + b.request_counts.failed, 0);
    expect(ok + failed).toBe(12);
    expect(ok).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);
    const codes = (
      await env.DB.prepare("SELECT error_code FROM usage WHERE tenant_id = ? AND status = 'failed'")
        .bind(tenantId)
        .all<{ error_code: string }>()
    ).results.map((r) => r.error_code);
    expect(new Set(codes)).toEqual(new Set(['tenant_budget_exceeded']));
    const ledger = await spent(tenantId);
    expect(ledger.n).toBe(12);
    expect(ledger.s).toBeLessThanOrEqual(5000);
    expect(await reservations(tenantId)).toBe(0);
  }, 120_000);
});
