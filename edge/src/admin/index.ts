import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { z } from 'zod';
import { bearerToken } from '../auth';
import { SCOPES } from '../auth/keys';
import { timingSafeEqualStrings } from '../auth/keys';
import { AuthStore } from '../auth/store';
import type { AppEnv } from '../env';
import { ApiError, notFound } from '../errors/api-error';
import { validate } from '../openai/validator';
import { PolicySchema } from '../policy/policy';
import { scaleOut } from '../scale-out';
import { billingAdmin } from './billing';

/** Read-only routes an autoscaler may read with METRICS_TOKEN instead of the admin secret. */
const METRICS_ROUTES = new Set(['/admin/queue', '/admin/metrics']);

/**
 * 401 unless `Authorization: Bearer <ADMIN_SECRET>`; with no secret configured nobody is admin.
 * GET /admin/queue and /admin/metrics also take METRICS_TOKEN, which opens nothing else.
 */
const adminAuth = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const given = bearerToken(c.req.header('authorization'));
    const metricsToken = c.env.METRICS_TOKEN;
    if (
      c.req.method === 'GET' &&
      METRICS_ROUTES.has(c.req.path) &&
      metricsToken &&
      given &&
      (await timingSafeEqualStrings(given, metricsToken))
    )
      return next();
    const secret = c.env.ADMIN_SECRET;
    if (!secret || !given || !(await timingSafeEqualStrings(given, secret))) {
      throw new ApiError(
        401,
        'authentication_error',
        'invalid_admin_secret',
        secret ? 'admin endpoints need "Authorization: Bearer <ADMIN_SECRET>"' : 'the admin API is disabled: ADMIN_SECRET is not set',
      );
    }
    await next();
  });

const TenantIdSchema = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must match [A-Za-z0-9_-]{1,64}') });
const CreateTenantSchema = z
  .object({ id: TenantIdSchema.shape.id, name: z.string().min(1).max(200), policy: PolicySchema.optional() })
  .strict();
const CreateKeySchema = z
  .object({
    name: z.string().min(1).max(200),
    scopes: z.array(z.enum(SCOPES)).min(1).default(['generate', 'models', 'generations']),
    rate_limit_per_minute: z.number().int().min(1).max(1_000_000).nullable().default(null),
  })
  .strict();

/** Tenants, their policies and their keys. Key secrets appear once, in the creation response. */
export const admin = new Hono<AppEnv>()
  .use(adminAuth())
  .post('/tenants', validate('json', CreateTenantSchema), async (c) => {
    const { id, name, policy } = c.req.valid('json');
    return c.json(await new AuthStore(c.env.DB).upsertTenant(id, name, policy), 201);
  })
  .get('/tenants/:id', validate('param', TenantIdSchema), async (c) => {
    const tenant = await new AuthStore(c.env.DB).getTenant(c.req.valid('param').id);
    if (!tenant) throw notFound('id', 'no such tenant', 'tenant_not_found');
    return c.json(tenant);
  })
  .put('/tenants/:id/policy', validate('param', TenantIdSchema), validate('json', PolicySchema), async (c) => {
    const { id } = c.req.valid('param');
    if (!(await new AuthStore(c.env.DB).setPolicy(id, c.req.valid('json')))) throw notFound('id', 'no such tenant', 'tenant_not_found');
    return c.json({ id, policy: c.req.valid('json') });
  })
  .post('/tenants/:id/keys', validate('param', TenantIdSchema), validate('json', CreateKeySchema), async (c) => {
    const store = new AuthStore(c.env.DB);
    const { id } = c.req.valid('param');
    if (!(await store.getTenant(id))) throw notFound('id', 'no such tenant', 'tenant_not_found');
    const { name, scopes, rate_limit_per_minute } = c.req.valid('json');
    const { secret, record } = await store.createKey(id, name, scopes, rate_limit_per_minute);
    return c.json({ ...record, key: secret }, 201);
  })
  .get('/tenants/:id/keys', validate('param', TenantIdSchema), async (c) =>
    c.json({ object: 'list', data: await new AuthStore(c.env.DB).listKeys(c.req.valid('param').id) }),
  )
  .delete('/keys/:keyId', async (c) => {
    if (!(await new AuthStore(c.env.DB).revokeKey(c.req.param('keyId')))) throw notFound('keyId', 'no such active key', 'key_not_found');
    return c.json({ id: c.req.param('keyId'), revoked: true });
  })
  .route('/', billingAdmin)
  .route('/', scaleOut);
