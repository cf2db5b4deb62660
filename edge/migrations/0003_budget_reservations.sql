-- Quotas: a call reserves its worst-case cost before any GPU work and settles to its actual
-- cost afterwards, so concurrent calls cannot together pass a budget (docs/billing.md).
-- `id` is the call's usage record id (request id, or `<batch id>:<line>` for a batch line); the
-- usage row is written and the reservation deleted in one D1 transaction. A reservation whose
-- call never settled (the isolate died) stops counting at `expires_at` and is swept later.
CREATE TABLE budget_reservations (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  amount_micro_usd INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX budget_reservations_tenant ON budget_reservations(tenant_id, expires_at);
CREATE INDEX budget_reservations_key ON budget_reservations(key_id, expires_at);
CREATE INDEX budget_reservations_expiry ON budget_reservations(expires_at);
