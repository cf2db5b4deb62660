import { describe, expect, it } from 'vitest';
import { adminFetch, api, newTenant } from '../../test/helpers';

describe('admin API', () => {
  it('answers 401 without the admin secret or with an API key', async () => {
    const { key } = await newTenant();
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${key}`]) {
      const res = await adminFetch('/admin/tenants', {
        body: { id: 'x', name: 'x' },
        headers: authorization ? { authorization } : { authorization: '' },
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.code).toBe('invalid_admin_secret');
    }
  });

  it('takes the read-only METRICS_TOKEN on GET /admin/queue and /admin/metrics only', async () => {
    const metrics = { authorization: 'Bearer test-metrics-token' };
    for (const path of ['/admin/queue', '/admin/metrics']) expect((await adminFetch(path, { headers: metrics })).status).toBe(200);
    for (const path of ['/admin/tenants/x/keys', '/admin/usage', '/admin/refusals'])
      expect((await adminFetch(path, { headers: metrics })).status).toBe(401);
    expect((await adminFetch('/admin/tenants', { body: { id: 'by-metrics', name: 'x' }, headers: metrics })).status).toBe(401);
  });

  it('shows a key once at creation; listings never contain it', async () => {
    const { tenantId, key, keyId } = await newTenant();
    expect(key).toMatch(/^sk-ssd2-[A-Za-z0-9_-]{43}$/);
    const list = (await (await adminFetch(`/admin/tenants/${tenantId}/keys`)).json()) as any;
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({ id: keyId, tenant_id: tenantId, scopes: ['generate', 'models', 'generations'], revoked_at: null });
    expect(JSON.stringify(list)).not.toContain(key);
    expect(list.data[0].hash).toBeUndefined();
    expect(key.startsWith(list.data[0].prefix)).toBe(true);
  });

  it('revokes a key once; a second revoke is 404', async () => {
    const { keyId } = await newTenant();
    expect((await adminFetch(`/admin/keys/${keyId}`, { method: 'DELETE' })).status).toBe(200);
    expect((await adminFetch(`/admin/keys/${keyId}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('validates tenant policies and scopes, naming the field', async () => {
    const { tenantId } = await newTenant();
    const bad = await adminFetch(`/admin/tenants/${tenantId}/policy`, { method: 'PUT', body: { blocked_patterns: ['(unclosed'] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.param).toBe('blocked_patterns.0');
    const unknown = await adminFetch(`/admin/tenants/${tenantId}/policy`, { method: 'PUT', body: { max_prompt_tokns: 3 } });
    expect(unknown.status).toBe(400);
    const scope = await adminFetch(`/admin/tenants/${tenantId}/keys`, { body: { name: 'k', scopes: ['root'] } });
    expect(scope.status).toBe(400);
    expect(((await scope.json()) as any).error.param).toBe('scopes.0');
    expect((await adminFetch('/admin/tenants/nobody/keys', { body: { name: 'k' } })).status).toBe(404);
  });

  it('stores a policy that the API then enforces', async () => {
    const { tenantId, key } = await newTenant();
    const put = await adminFetch(`/admin/tenants/${tenantId}/policy`, { method: 'PUT', body: { blocked_terms: ['forbidden'] } });
    expect(put.status).toBe(200);
    expect(((await (await adminFetch(`/admin/tenants/${tenantId}`)).json()) as any).policy).toEqual({ blocked_terms: ['forbidden'] });
    expect((await api('/v1/completions', key, { model: 'tiny-core', prompt: 'a Forbidden word', max_tokens: 1 })).status).toBe(400);
  });
});
