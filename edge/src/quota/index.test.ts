import { describe, expect, it } from 'vitest';
import { adminFetch, api, newTenant, stubLog, uniqueSeed } from '../../test/helpers';
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
