import { Hono } from 'hono';
import { z } from 'zod';
import { MICRO } from '../billing/prices';
import type { AppEnv } from '../env';
import { notFound } from '../errors/api-error';
import { UsageQuerySchema, usageCsv, usageReport } from '../metering/usage-report';
import { validate } from '../openai/validator';
import { setKeyBudget, setTenantBudget } from '../quota/budget-store';

const BudgetSchema = z.object({ monthly_usd: z.number().min(0).max(1e9).nullable() }).strict();
const toMicro = (usd: number | null) => (usd === null ? null : Math.round(usd * MICRO));

/** Budgets (USD per UTC month; null removes one) and usage across tenants. Mounted under the admin auth. */
export const billingAdmin = new Hono<AppEnv>()
  .put('/tenants/:id/budget', validate('json', BudgetSchema), async (c) => {
    const { monthly_usd } = c.req.valid('json');
    if (!(await setTenantBudget(c.env.DB, c.req.param('id'), toMicro(monthly_usd)))) throw notFound('id', 'no such tenant', 'tenant_not_found');
    return c.json({ tenant_id: c.req.param('id'), monthly_usd });
  })
  .put('/keys/:keyId/budget', validate('json', BudgetSchema), async (c) => {
    const { monthly_usd } = c.req.valid('json');
    if (!(await setKeyBudget(c.env.DB, c.req.param('keyId'), toMicro(monthly_usd)))) throw notFound('keyId', 'no such key', 'key_not_found');
    return c.json({ key_id: c.req.param('keyId'), monthly_usd });
  })
  .get('/usage', validate('query', UsageQuerySchema), async (c) => {
    const q = c.req.valid('query');
    const report = await usageReport(c.env.DB, q.tenant_id ?? null, q);
    if (q.format === 'csv') return c.body(usageCsv(report), 200, { 'content-type': 'text/csv; charset=utf-8' });
    return c.json(report);
  });
