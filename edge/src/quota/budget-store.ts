/** First millisecond of the UTC calendar month of `now`: budgets are per month. */
export function monthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Budgets (micro-USD, null = unlimited) and this month's spend of a key and its tenant. */
export interface BudgetState {
  tenantBudget: number | null;
  tenantSpent: number;
  keyBudget: number | null;
  keySpent: number;
}

/** One round trip: both budgets and both sums of this month's usage. */
export async function readBudget(db: D1Database, keyId: string, now = Date.now()): Promise<BudgetState> {
  const since = monthStart(now);
  const row = await db
    .prepare(
      `SELECT t.monthly_budget_micro_usd AS tenant_budget, k.monthly_budget_micro_usd AS key_budget,
         (SELECT COALESCE(SUM(cost_micro_usd), 0) FROM usage WHERE tenant_id = t.id AND created_at >= ?1) AS tenant_spent,
         (SELECT COALESCE(SUM(cost_micro_usd), 0) FROM usage WHERE key_id = k.id AND created_at >= ?1) AS key_spent
       FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?2`,
    )
    .bind(since, keyId)
    .first<{ tenant_budget: number | null; key_budget: number | null; tenant_spent: number; key_spent: number }>();
  return { tenantBudget: row?.tenant_budget ?? null, tenantSpent: row?.tenant_spent ?? 0, keyBudget: row?.key_budget ?? null, keySpent: row?.key_spent ?? 0 };
}

export async function setTenantBudget(db: D1Database, tenantId: string, micro: number | null): Promise<boolean> {
  return (await db.prepare('UPDATE tenants SET monthly_budget_micro_usd = ? WHERE id = ?').bind(micro, tenantId).run()).meta.changes > 0;
}

export async function setKeyBudget(db: D1Database, keyId: string, micro: number | null): Promise<boolean> {
  return (await db.prepare('UPDATE api_keys SET monthly_budget_micro_usd = ? WHERE id = ?').bind(micro, keyId).run()).meta.changes > 0;
}
