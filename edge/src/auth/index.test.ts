import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { adminFetch, api, newTenant } from '../../test/helpers';
import { hashKey } from './keys';

describe('API key auth', () => {
  it('answers 401 without a key and with an unknown key, in OpenAI error shape', async () => {
    const none = await api('/v1/models', null);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({
      error: { message: expect.stringContaining('no API key'), type: 'authentication_error', param: null, code: 'missing_api_key' },
    });
    const bad = await api('/v1/models', 'sk-ssd2-not-a-real-key');
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as any).error.code).toBe('invalid_api_key');
  });

  it('accepts a created key, and stores only its SHA-256', async () => {
    const { key, keyId } = await newTenant();
    expect((await api('/v1/models', key)).status).toBe(200);
    const row = await env.DB.prepare('SELECT * FROM api_keys WHERE id = ?').bind(keyId).first<Record<string, unknown>>();
    expect(row!.hash).toBe(await hashKey(key));
    expect(Object.values(row!)).not.toContain(key);
  });

  it('answers 401 once the key is revoked', async () => {
    const { key, keyId } = await newTenant();
    expect((await adminFetch(`/admin/keys/${keyId}`, { method: 'DELETE' })).status).toBe(200);
    const res = await api('/v1/models', key);
    expect(res.status).toBe(401);
  });

  it('answers 403 when the key lacks the scope', async () => {
    const { key } = await newTenant({ scopes: ['models'] });
    expect((await api('/v1/models', key)).status).toBe(200);
    const res = await api('/v1/completions', key, { model: 'tiny-core', prompt: 'hi' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error).toMatchObject({ type: 'permission_error', code: 'insufficient_scope' });
  });
});
