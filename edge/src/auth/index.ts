import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors/api-error';
import type { Scope } from './keys';
import { AuthStore } from './store';

/** The bearer token of `Authorization: Bearer <token>`, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m ? m[1] : null;
}

/**
 * Resolves the API key to its tenant and scopes; 401 when it is missing, unknown or revoked.
 * WebSocket upgrades may pass the key as the `api_key` query parameter (browsers cannot set headers).
 */
export const apiKeyAuth = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const fromQuery = c.req.header('upgrade')?.toLowerCase() === 'websocket' ? c.req.query('api_key') : undefined;
    const secret = bearerToken(c.req.header('authorization')) ?? fromQuery ?? null;
    if (!secret) throw new ApiError(401, 'authentication_error', 'missing_api_key', 'no API key: send "Authorization: Bearer <key>"');
    const key = await new AuthStore(c.env.DB).findActiveKey(secret);
    if (!key) throw new ApiError(401, 'authentication_error', 'invalid_api_key', 'the API key is not valid (unknown or revoked)');
    c.set('principal', { keyId: key.id, tenantId: key.tenant_id, scopes: key.scopes, rateLimitPerMinute: key.rate_limit_per_minute });
    await next();
  });

/** 403 unless the caller's key holds `scope`. */
export const requireScope = (scope: Scope) =>
  createMiddleware<AppEnv>(async (c, next) => {
    if (!c.var.principal.scopes.includes(scope))
      throw new ApiError(403, 'permission_error', 'insufficient_scope', `this API key lacks the "${scope}" scope`);
    await next();
  });
