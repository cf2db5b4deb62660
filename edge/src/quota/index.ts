import { MICRO, toUsd } from '../billing/prices';
import { ApiError } from '../errors/api-error';
import { readBudget, reserve, type BudgetState } from './budget-store';

export { releaseReservation } from './budget-store';

export const TENANT_REMAINING_HEADER = 'x-ssd2-budget-tenant-remaining-usd';
export const KEY_REMAINING_HEADER = 'x-ssd2-budget-key-remaining-usd';

/** Remaining budgets after `spend` more micro-USD, net of other calls' live reservations (null = no budget set). */
export function remaining(state: BudgetState, spend = 0): { tenant: number | null; key: number | null } {
  return {
    tenant: state.tenantBudget === null ? null : state.tenantBudget - state.tenantSpent - state.tenantReserved - spend,
    key: state.keyBudget === null ? null : state.keyBudget - state.keySpent - state.keyReserved - spend,
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

const fmt = (micro: number) => `$${(micro / MICRO).toFixed(6)}`;

/** The refusal for a call whose worst case does not fit: 402 for the tenant's budget, 429 for the key's. */
function refusal(state: BudgetState, maxCostMicroUsd: number): ApiError | null {
  const r = remaining(state);
  if (r.tenant !== null && maxCostMicroUsd > r.tenant) {
    return new ApiError(
      402,
      'insufficient_quota',
      'tenant_budget_exceeded',
      `this call may cost up to ${fmt(maxCostMicroUsd)}; the tenant's monthly budget has ${fmt(Math.max(0, r.tenant))} left`,
    ).withHeaders(budgetHeaders(state));
  }
  if (r.key !== null && maxCostMicroUsd > r.key) {
    return new ApiError(
      429,
      'insufficient_quota',
      'key_budget_exceeded',
      `this call may cost up to ${fmt(maxCostMicroUsd)}; this API key's monthly budget has ${fmt(Math.max(0, r.key))} left`,
    ).withHeaders(budgetHeaders(state));
  }
  return null;
}

/**
 * Checks without reserving: refuses (402 `tenant_budget_exceeded` / 429 `key_budget_exceeded`)
 * when `maxCostMicroUsd` does not fit in what is left. Used where nothing runs yet (creating a
 * batch: each of its lines reserves when it runs). Returns the state for headers.
 */
export async function enforceBudget(db: D1Database, keyId: string, maxCostMicroUsd: number): Promise<BudgetState> {
  const state = await readBudget(db, keyId);
  const refused = refusal(state, maxCostMicroUsd);
  if (refused) throw refused;
  return state;
}

/**
 * Reserves the call's worst-case cost before any GPU work (docs/billing.md): refuses with 402/429
 * when it does not fit in the tenant's or the key's budget after settled spend and every other
 * call's live reservation. The reservation (id = the call's usage record id) is settled by
 * writing the usage row and `releaseReservation` in one D1 batch. Returns the state (without this
 * call's reservation) for the remaining-budget headers.
 */
export async function reserveBudget(db: D1Database, call: { id: string; keyId: string }, maxCostMicroUsd: number): Promise<BudgetState> {
  const { state, reserved } = await reserve(db, { id: call.id, keyId: call.keyId, amount: maxCostMicroUsd });
  if (reserved || (state.tenantBudget === null && state.keyBudget === null)) return state;
  // Not reserved: the same transaction's state says which budget is short.
  throw (
    refusal(state, maxCostMicroUsd) ??
    new ApiError(
      402,
      'insufficient_quota',
      'tenant_budget_exceeded',
      `this call may cost up to ${fmt(maxCostMicroUsd)}; the budget has too little left`,
    ).withHeaders(budgetHeaders(state))
  );
}
