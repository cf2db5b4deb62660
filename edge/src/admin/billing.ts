import { Hono } from 'hono';
import { z } from 'zod';
import { MICRO } from '../billing/prices';
import type { AppEnv } from '../env';
import { notFound } from '../errors/api-error';
import { UsageQuerySchema, usageCsv, usageReport } from '../metering/usage-report';
import { validate } from '../openai/validator';
import { setKeyBudget, setTenantBudget } from '../quota/budget-store';

const RefusalsQuerySchema = z
  .object({
    minutes: z.coerce
      .number()
      .int()
      .min(1)
      .max(60 * 24 * 31)
      .default(60 * 24),
  })
  .strict();
const BudgetSchema = z.object({ monthly_usd: z.number().min(0).max(1e9).nullable() }).strict();
const toMicro = (usd: number | null) => (usd === null ? null : Math.round(usd * MICRO));

/** Budgets (USD per UTC month; null removes one) and usage across tenants. Mounted under the admin auth. */
export const billingAdmin = new Hono<AppEnv>()
  .put('/tenants/:id/budget', validate('json', BudgetSchema), async (c) => {
    const { monthly_usd } = c.req.valid('json');
    if (!(await setTenantBudget(c.env.DB, c.req.param('id'), toMicro(monthly_usd))))
      throw notFound('id', 'no such tenant', 'tenant_not_found');
    return c.json({ tenant_id: c.req.param('id'), monthly_usd });
  })
  .put('/keys/:keyId/budget', validate('json', BudgetSchema), async (c) => {
    const { monthly_usd } = c.req.valid('json');
    if (!(await setKeyBudget(c.env.DB, c.req.param('keyId'), toMicro(monthly_usd))))
      throw notFound('keyId', 'no such key', 'key_not_found');
    return c.json({ key_id: c.req.param('keyId'), monthly_usd });
  })
  .get('/usage', validate('query', UsageQuerySchema), async (c) => {
    const q = c.req.valid('query');
    const report = await usageReport(c.env.DB, q.tenant_id ?? null, q);
    if (q.format === 'csv') return c.body(usageCsv(report), 200, { 'content-type': 'text/csv; charset=utf-8' });
    return c.json(report);
  })
  // Calls refused before authentication, counted per minute (the last `minutes`, default a day).
  .get('/refusals', validate('query', RefusalsQuerySchema), async (c) => {
    const since = Math.floor(Date.now() / 60_000) - c.req.valid('query').minutes;
    const { results } = await c.env.DB.prepare(
      'SELECT minute, kind, error_code, count FROM anonymous_refusals WHERE minute > ? ORDER BY minute, kind, error_code',
    )
      .bind(since)
      .all<{ minute: number; kind: string; error_code: string; count: number }>();
    const data = results.map((r) => ({ ...r, at: new Date(r.minute * 60_000).toISOString() }));
    return c.json({ object: 'list', data, total: data.reduce((a, r) => a + r.count, 0) });
  });
