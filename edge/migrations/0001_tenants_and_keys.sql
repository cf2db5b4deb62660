-- Tenants own API keys, a prompt policy and their generations.
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  policy TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
);

-- Keys are stored only as the SHA-256 of the secret; the secret is shown once, at creation.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  rate_limit_per_minute INTEGER,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

-- One row per finished generation (metering).
CREATE TABLE usage (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  mode TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  steps_run INTEGER NOT NULL,
  finish_reason TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX usage_tenant ON usage(tenant_id, created_at);
