-- User models a tenant uploads (edge/src/user-models/). A version is immutable: its files live in
-- the model bucket under tenants/<tenant>/user-models/<name>/<version>/, and a version number is
-- never reused (deleted versions keep their row), so no worker cache can serve stale bytes.
CREATE TABLE user_models (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,                 -- uploading | validating | ready | failed
  manifest TEXT NOT NULL,               -- manifest.json as uploaded
  bytes INTEGER NOT NULL,               -- the files' total (the tenant's quota counts it)
  compatible_models TEXT NOT NULL,      -- JSON array of the core model ids it may be mixed with
  error_code TEXT,                      -- why it failed
  error_param TEXT,                     -- the file or field the reason names
  error_message TEXT,
  validation_attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER,                   -- set by DELETE; the row stays so the version is never reused
  purged INTEGER NOT NULL DEFAULT 0,    -- 1 once the files are gone from the bucket
  PRIMARY KEY (tenant_id, name, version)
);
CREATE INDEX user_models_status ON user_models(status, updated_at);

CREATE TABLE user_model_files (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  uploaded_at INTEGER,                  -- NULL until its bytes are stored and verified
  PRIMARY KEY (tenant_id, name, version, path)
);
