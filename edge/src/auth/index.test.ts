import { env, SELF } from 'cloudflare:test';
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

describe('browsers and methods', () => {
  it("answers a CORS preflight before authentication, and exposes the API's own headers", async () => {
    const preflight = await SELF.fetch('https://edge.test/v1/chat/completions', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    const { key } = await newTenant();
    const res = await SELF.fetch('https://edge.test/v1/models', {
      headers: { origin: 'https://app.example', authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-expose-headers')).toContain('x-ssd2-generation-id');
  });

  it('answers another method on a POST route with 405 and Allow', async () => {
    const { key } = await newTenant();
    const res = await api('/v1/completions', key);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(((await res.json()) as any).error.code).toBe('method_not_allowed');
  });
});
