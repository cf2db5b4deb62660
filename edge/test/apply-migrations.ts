import { applyD1Migrations, env } from 'cloudflare:test';

// Idempotent: applied migrations are recorded in D1 itself.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
