-- Metering (one usage row per call), quotas, Idempotency-Key, the batch API.

-- usage: one row per call (streamed, non-streamed, batch line, blocked, failed, replayed).
-- `id` is the request id; a batch line's is `<batch id>:<line index>`, so a redelivered line
-- can never be charged twice (INSERT OR IGNORE on the primary key).
ALTER TABLE usage ADD COLUMN kind TEXT NOT NULL DEFAULT 'completion';        -- completion | chat | batch
ALTER TABLE usage ADD COLUMN status TEXT NOT NULL DEFAULT 'ok';              -- ok | blocked | failed | replayed
ALTER TABLE usage ADD COLUMN error_code TEXT;
ALTER TABLE usage ADD COLUMN user_model TEXT;                                -- a tenant bundle run beside the core (fused)
ALTER TABLE usage ADD COLUMN collaboration TEXT NOT NULL DEFAULT 'none';     -- none | user_model | client_model
ALTER TABLE usage ADD COLUMN steps_saved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN worker_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN cost_micro_usd INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN day TEXT NOT NULL DEFAULT '';                   -- UTC YYYY-MM-DD of created_at
ALTER TABLE usage ADD COLUMN batch_id TEXT;
ALTER TABLE usage ADD COLUMN custom_id TEXT;
ALTER TABLE usage ADD COLUMN idempotency_key TEXT;
CREATE INDEX usage_key ON usage(key_id, created_at);
CREATE INDEX usage_batch ON usage(batch_id);

-- Budgets per calendar month (UTC), in micro-USD; NULL = unlimited.
ALTER TABLE tenants ADD COLUMN monthly_budget_micro_usd INTEGER;
ALTER TABLE api_keys ADD COLUMN monthly_budget_micro_usd INTEGER;

-- Idempotency-Key: the first call claims (tenant, key); its response is kept for replays.
CREATE TABLE idempotency_keys (
  tenant_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  state TEXT NOT NULL,               -- pending | done
  status INTEGER,
  content_type TEXT,
  body TEXT,
  request_id TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

-- Files (bytes in R2 under r2_key).
CREATE TABLE files (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  purpose TEXT NOT NULL,             -- batch | batch_output
  filename TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  r2_key TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX files_tenant ON files(tenant_id, created_at);

CREATE TABLE batches (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  input_file_id TEXT NOT NULL,
  completion_window TEXT NOT NULL,
  status TEXT NOT NULL,              -- in_progress | finalizing | completed | cancelling | cancelled
  total INTEGER NOT NULL,
  output_file_id TEXT,
  error_file_id TEXT,
  metadata TEXT,
  created_at INTEGER NOT NULL,
  in_progress_at INTEGER,
  finalizing_at INTEGER,
  completed_at INTEGER,
  cancelling_at INTEGER,
  cancelled_at INTEGER
);
CREATE INDEX batches_tenant ON batches(tenant_id, created_at);

-- One row per input line; `status` moves pending -> ok | error exactly once (UPDATE ... WHERE status = 'pending').
CREATE TABLE batch_lines (
  batch_id TEXT NOT NULL,
  line_index INTEGER NOT NULL,
  custom_id TEXT,
  status TEXT NOT NULL,              -- pending | ok | error
  result TEXT,                       -- the output or error JSONL line
  attempts INTEGER NOT NULL DEFAULT 0,
  enqueued_at INTEGER NOT NULL,
  finished_at INTEGER,
  PRIMARY KEY (batch_id, line_index)
);
CREATE INDEX batch_lines_pending ON batch_lines(status, enqueued_at);
