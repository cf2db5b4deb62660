/** First millisecond of the UTC calendar month of `now`: budgets are per month. */
function monthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/**
 * How long a reservation counts when its call never settles (the isolate died mid-call): longer
 * than any generation or batch line with its retries runs.
 */
const RESERVATION_TTL_MS = 60 * 60 * 1000;

/**
 * Budgets (micro-USD, null = unlimited), this month's settled spend (sum of `usage.cost_micro_usd`)
 * and what calls still running have reserved, of a key and its tenant.
 */
export interface BudgetState {
  tenantBudget: number | null;
  tenantSpent: number;
  tenantReserved: number;
  keyBudget: number | null;
  keySpent: number;
  keyReserved: number;
}

// ?1 month start, ?2 key id, ?3 the caller's own reservation id (not counted), ?4 now.
const TENANT_SPENT = '(SELECT COALESCE(SUM(cost_micro_usd), 0) FROM usage WHERE tenant_id = t.id AND created_at >= ?1)';
const KEY_SPENT = '(SELECT COALESCE(SUM(cost_micro_usd), 0) FROM usage WHERE key_id = k.id AND created_at >= ?1)';
const TENANT_RESERVED =
  '(SELECT COALESCE(SUM(amount_micro_usd), 0) FROM budget_reservations WHERE tenant_id = t.id AND expires_at > ?4 AND id <> ?3)';
const KEY_RESERVED =
  '(SELECT COALESCE(SUM(amount_micro_usd), 0) FROM budget_reservations WHERE key_id = k.id AND expires_at > ?4 AND id <> ?3)';

type StateRow = {
  tenant_budget: number | null;
  key_budget: number | null;
  tenant_spent: number;
  key_spent: number;
  tenant_reserved: number;
  key_reserved: number;
};

function stateStatement(db: D1Database, keyId: string, ownId: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `SELECT t.monthly_budget_micro_usd AS tenant_budget, k.monthly_budget_micro_usd AS key_budget,
         ${TENANT_SPENT} AS tenant_spent, ${KEY_SPENT} AS key_spent, ${TENANT_RESERVED} AS tenant_reserved, ${KEY_RESERVED} AS key_reserved
       FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?2`,
    )
    .bind(monthStart(now), keyId, ownId, now);
}

function toState(row: StateRow | null | undefined): BudgetState {
  return {
    tenantBudget: row?.tenant_budget ?? null,
    tenantSpent: row?.tenant_spent ?? 0,
    tenantReserved: row?.tenant_reserved ?? 0,
    keyBudget: row?.key_budget ?? null,
    keySpent: row?.key_spent ?? 0,
    keyReserved: row?.key_reserved ?? 0,
  };
}

/** One round trip: both budgets, both sums of this month's usage and of live reservations. */
export async function readBudget(db: D1Database, keyId: string, now = Date.now()): Promise<BudgetState> {
  return toState(await stateStatement(db, keyId, '', now).first<StateRow>());
}

/**
 * Atomically reserves `amount` micro-USD for the call `id` when both the tenant's and the key's
 * budgets still hold it after their settled spend and every other live reservation; nothing is
 * reserved when neither has a budget. One D1 batch (a transaction, and D1 runs one writer at a
 * time): the state is read and the conditional INSERT decided against the same data, so two
 * calls can never both take the last of a budget. Re-reserving the same id (a redelivered batch
 * line) replaces its reservation. Also sweeps reservations past their expiry.
 */
export async function reserve(
  db: D1Database,
  r: { id: string; keyId: string; amount: number },
  now = Date.now(),
): Promise<{ state: BudgetState; reserved: boolean }> {
  const insert = db
    .prepare(
      `INSERT OR REPLACE INTO budget_reservations (id, tenant_id, key_id, amount_micro_usd, created_at, expires_at)
       SELECT ?3, t.id, k.id, ?5, ?4, ?6 FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
       WHERE k.id = ?2
         AND (t.monthly_budget_micro_usd IS NOT NULL OR k.monthly_budget_micro_usd IS NOT NULL)
         AND (t.monthly_budget_micro_usd IS NULL OR t.monthly_budget_micro_usd - ${TENANT_SPENT} - ${TENANT_RESERVED} >= ?5)
         AND (k.monthly_budget_micro_usd IS NULL OR k.monthly_budget_micro_usd - ${KEY_SPENT} - ${KEY_RESERVED} >= ?5)`,
    )
    .bind(monthStart(now), r.keyId, r.id, now, r.amount, now + RESERVATION_TTL_MS);
  const sweep = db.prepare('DELETE FROM budget_reservations WHERE expires_at <= ?').bind(now);
  const [state, inserted] = await db.batch([stateStatement(db, r.keyId, r.id, now), insert, sweep]);
  return { state: toState((state.results as StateRow[])[0]), reserved: (inserted.meta.changes ?? 0) > 0 };
}

/** Ends a call's reservation; run in the same D1 batch as the call's usage row (settling to the actual cost). */
export function releaseReservation(db: D1Database, id: string): D1PreparedStatement {
  return db.prepare('DELETE FROM budget_reservations WHERE id = ?').bind(id);
}

export async function setTenantBudget(db: D1Database, tenantId: string, micro: number | null): Promise<boolean> {
  return (await db.prepare('UPDATE tenants SET monthly_budget_micro_usd = ? WHERE id = ?').bind(micro, tenantId).run()).meta.changes > 0;
}

export async function setKeyBudget(db: D1Database, keyId: string, micro: number | null): Promise<boolean> {
  return (await db.prepare('UPDATE api_keys SET monthly_budget_micro_usd = ? WHERE id = ?').bind(micro, keyId).run()).meta.changes > 0;
}
