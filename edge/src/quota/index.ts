import { MICRO, toUsd } from '../billing/prices';
import { ApiError } from '../errors/api-error';
import { readBudget, type BudgetState } from './budget-store';

export const TENANT_REMAINING_HEADER = 'x-ssd2-budget-tenant-remaining-usd';
export const KEY_REMAINING_HEADER = 'x-ssd2-budget-key-remaining-usd';

/** Remaining budgets after `spend` more micro-USD (null = no budget set). */
export function remaining(state: BudgetState, spend = 0): { tenant: number | null; key: number | null } {
  return {
    tenant: state.tenantBudget === null ? null : state.tenantBudget - state.tenantSpent - spend,
    key: state.keyBudget === null ? null : state.keyBudget - state.keySpent - spend,
  };
}

/** Response headers with what is left this month (only for budgets that are set). */
export function budgetHeaders(state: BudgetState, spend = 0): Record<string, string> {
  const r = remaining(state, spend);
  const h: Record<string, string> = {};
  if (r.tenant !== null) h[TENANT_REMAINING_HEADER] = toUsd(Math.max(0, r.tenant)).toFixed(6);
  if (r.key !== null) h[KEY_REMAINING_HEADER] = toUsd(Math.max(0, r.key)).toFixed(6);
  return h;
}

/**
 * Refuses a call whose most expensive outcome would take the tenant's monthly budget (402
 * `tenant_budget_exceeded`) or the key's (429 `key_budget_exceeded`) below zero. Called after the
 * request is validated and before anything reaches a GPU worker. Returns the state for headers.
 */
export async function enforceBudget(db: D1Database, keyId: string, maxCostMicroUsd: number): Promise<BudgetState> {
  const state = await readBudget(db, keyId);
  const r = remaining(state);
  const fmt = (micro: number) => `$${(micro / MICRO).toFixed(6)}`;
  if (r.tenant !== null && maxCostMicroUsd > r.tenant) {
    throw new ApiError(402, 'insufficient_quota', 'tenant_budget_exceeded', `this call may cost up to ${fmt(maxCostMicroUsd)}; the tenant's monthly budget has ${fmt(Math.max(0, r.tenant))} left`).withHeaders(budgetHeaders(state));
  }
  if (r.key !== null && maxCostMicroUsd > r.key) {
    throw new ApiError(429, 'insufficient_quota', 'key_budget_exceeded', `this call may cost up to ${fmt(maxCostMicroUsd)}; this API key's monthly budget has ${fmt(Math.max(0, r.key))} left`).withHeaders(budgetHeaders(state));
  }
  return state;
}
