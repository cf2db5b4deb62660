import { z } from 'zod';

const day = z.iso.date({ error: 'must be a date, YYYY-MM-DD' });

const usageQuery = {
  group_by: z.enum(['day', 'key', 'tenant']).default('day'),
  from: day.optional(),
  to: day.optional(),
  format: z.enum(['json', 'csv']).default('json'),
  tenant_id: z.string().max(64).optional(),
};

const fromNotAfterTo = (q: { from?: string; to?: string }, ctx: z.RefinementCtx) => {
  if (q.from && q.to && q.from > q.to) ctx.addIssue({ code: 'custom', path: ['from'], message: `must not be after to (${q.to})` });
};

/** Query of GET /admin/usage (every tenant, or one). */
export const UsageQuerySchema = z.object(usageQuery).strict().superRefine(fromNotAfterTo);
/** Query of GET /v1/usage: the key's own tenant, by day or by key. */
export const TenantUsageQuerySchema = z
  .object({
    ...usageQuery,
    group_by: z.enum(['day', 'key'], { error: "day or key (a key reads its own tenant's usage only)" }).default('day'),
    tenant_id: z.never({ error: "a key reads its own tenant's usage only" }).optional(),
  })
  .strict()
  .superRefine(fromNotAfterTo);
export type UsageQuery = z.output<typeof UsageQuerySchema>;

const COLUMNS = [
  'calls',
  'ok',
  'partial',
  'blocked',
  'failed',
  'replayed',
  'prompt_tokens',
  'completion_tokens',
  'steps_run',
  'steps_saved',
  'worker_ms',
  'cost_micro_usd',
] as const;
export type UsageRow = Record<string, string | number>;

const GROUP_COLUMN = { day: 'day', key: 'key_id', tenant: 'tenant_id' } as const;

/** First day of this UTC month and today, the default range. */
function defaultRange(now: number): { from: string; to: string } {
  const today = new Date(now).toISOString().slice(0, 10);
  return { from: `${today.slice(0, 8)}01`, to: today };
}

/**
 * Usage summed per day, per key or per tenant over [from, to] (UTC days, inclusive). `tenantId`
 * null = every tenant (admin only).
 */
export async function usageReport(db: D1Database, tenantId: string | null, q: UsageQuery, now = Date.now()) {
  const range = { ...defaultRange(now), ...(q.from ? { from: q.from } : {}), ...(q.to ? { to: q.to } : {}) };
  const group = GROUP_COLUMN[q.group_by];
  const groupKey = q.group_by === 'key' ? 'tenant_id, key_id' : group;
  const where = ['day >= ?', 'day <= ?', ...(tenantId ? ['tenant_id = ?'] : [])].join(' AND ');
  const { results } = await db
    .prepare(
      `SELECT ${q.group_by === 'key' ? 'tenant_id, key_id' : group},
         COUNT(*) AS calls,
         SUM(status = 'ok') AS ok, SUM(status = 'partial') AS partial, SUM(status = 'blocked') AS blocked,
         SUM(status = 'failed') AS failed, SUM(status = 'replayed') AS replayed,
         SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, SUM(steps_run) AS steps_run,
         SUM(steps_saved) AS steps_saved,
         SUM(worker_ms) AS worker_ms, SUM(cost_micro_usd) AS cost_micro_usd
       FROM usage WHERE ${where} GROUP BY ${groupKey} ORDER BY ${groupKey}`,
    )
    .bind(range.from, range.to, ...(tenantId ? [tenantId] : []))
    .all<UsageRow>();
  const data: UsageRow[] = results.map((r) => ({ ...r, cost_usd: Number(r.cost_micro_usd) / 1e6 }));
  const total: UsageRow = Object.fromEntries(COLUMNS.map((c) => [c, data.reduce((a, r) => a + Number(r[c] ?? 0), 0)]));
  total.cost_usd = Number(total.cost_micro_usd) / 1e6;
  return { object: 'list' as const, group_by: q.group_by, ...range, ...(tenantId ? { tenant_id: tenantId } : {}), data, total };
}

/** The report as CSV (one header line, one line per group). */
export function usageCsv(report: Awaited<ReturnType<typeof usageReport>>): string {
  const lead = report.group_by === 'key' ? ['tenant_id', 'key_id'] : [GROUP_COLUMN[report.group_by]];
  const header = [...lead, ...COLUMNS, 'cost_usd'];
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header.join(','), ...report.data.map((r) => header.map((h) => cell((r as UsageRow)[h])).join(','))].join('\n') + '\n';
}
