-- Calls refused before authentication (401: no key, unknown key; 413 before the key is read) are
-- counted per minute, kind and error code instead of each writing a usage row: anyone who can reach
-- the edge can send them, and the table they fill must stay bounded. Nothing of the request (its
-- Idempotency-Key included) is stored.
CREATE TABLE anonymous_refusals (
  minute INTEGER NOT NULL,          -- Unix time / 60
  kind TEXT NOT NULL,               -- completion | chat
  error_code TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (minute, kind, error_code)
);
