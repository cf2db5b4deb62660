import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors/api-error';
import { TenantUsageQuerySchema, usageCsv, usageReport } from '../../metering/usage-report';
import { validate } from '../../openai/validator';

/** Billing can be read with a read-only `usage` key or with any key that can spend (`generate`). */
const canReadUsage = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const { scopes } = c.var.principal;
    if (!scopes.includes('usage') && !scopes.includes('generate'))
      throw new ApiError(403, 'permission_error', 'insufficient_scope', 'this API key lacks the "usage" scope');
    await next();
  });

/** GET /v1/usage: the caller's tenant only, by day or by key; JSON or CSV (`format=csv`). */
export const usage = new Hono<AppEnv>().get('/', canReadUsage(), validate('query', TenantUsageQuerySchema), async (c) => {
  const q = c.req.valid('query');
  const report = await usageReport(c.env.DB, c.var.principal.tenantId, q);
  if (q.format === 'csv') return c.body(usageCsv(report), 200, { 'content-type': 'text/csv; charset=utf-8' });
  return c.json(report);
});
