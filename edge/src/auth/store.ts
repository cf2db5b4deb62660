import { type Policy, PolicySchema } from '../policy/policy';
import { displayPrefix, hashKey, newId, newSecretKey, type Scope } from './keys';

export interface KeyRecord {
  id: string;
  tenant_id: string;
  prefix: string;
  name: string;
  scopes: Scope[];
  rate_limit_per_minute: number | null;
  created_at: number;
  revoked_at: number | null;
}

export interface TenantRecord {
  id: string;
  name: string;
  policy: Policy;
  created_at: number;
}

interface KeyRow extends Omit<KeyRecord, 'scopes'> {
  scopes: string;
  hash?: string;
}

/** The hash stays in D1: nothing outside this module needs it. */
const keyFromRow = ({ hash: _hash, ...r }: KeyRow): KeyRecord => ({ ...r, scopes: JSON.parse(r.scopes) });

/** D1 access for tenants and keys; every query is parameterised. */
export class AuthStore {
  constructor(private readonly db: D1Database) {}

  async findActiveKey(secret: string): Promise<KeyRecord | null> {
    const row = await this.db
      .prepare('SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL')
      .bind(await hashKey(secret))
      .first<KeyRow>();
    return row ? keyFromRow(row) : null;
  }

  async createKey(
    tenantId: string,
    name: string,
    scopes: Scope[],
    rateLimitPerMinute: number | null,
  ): Promise<{ secret: string; record: KeyRecord }> {
    const secret = newSecretKey();
    const record: KeyRecord = {
      id: newId('key'),
      tenant_id: tenantId,
      prefix: displayPrefix(secret),
      name,
      scopes,
      rate_limit_per_minute: rateLimitPerMinute,
      created_at: Date.now(),
      revoked_at: null,
    };
    await this.db
      .prepare(
        'INSERT INTO api_keys (id, tenant_id, hash, prefix, name, scopes, rate_limit_per_minute, created_at) VALUES (?, ?, ?, ?, ?, ?, ' +
          '?, ?)',
      )
      .bind(record.id, tenantId, await hashKey(secret), record.prefix, name, JSON.stringify(scopes), rateLimitPerMinute, record.created_at)
      .run();
    return { secret, record };
  }

  async listKeys(tenantId: string): Promise<KeyRecord[]> {
    const { results } = await this.db
      .prepare('SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at')
      .bind(tenantId)
      .all<KeyRow>();
    return results.map(keyFromRow);
  }

  /** Whether a key exists and is not revoked (a batch's lines stop once the key that created it is revoked). */
  async isKeyActive(keyId: string): Promise<boolean> {
    return (await this.db.prepare('SELECT 1 AS ok FROM api_keys WHERE id = ? AND revoked_at IS NULL').bind(keyId).first()) !== null;
  }

  /** True when an active key was revoked. */
  async revokeKey(keyId: string): Promise<boolean> {
    const r = await this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').bind(Date.now(), keyId).run();
    return r.meta.changes > 0;
  }

  async getTenant(id: string): Promise<TenantRecord | null> {
    const row = await this.db
      .prepare('SELECT * FROM tenants WHERE id = ?')
      .bind(id)
      .first<{ id: string; name: string; policy: string; created_at: number }>();
    return row ? { ...row, policy: PolicySchema.parse(JSON.parse(row.policy)) } : null;
  }

  /** Creates the tenant, or renames it (keeping its policy) when it exists. */
  async upsertTenant(id: string, name: string, policy?: Policy): Promise<TenantRecord> {
    await this.db
      .prepare('INSERT INTO tenants (id, name, policy, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name')
      .bind(id, name, JSON.stringify(policy ?? {}), Date.now())
      .run();
    if (policy) await this.setPolicy(id, policy);
    return (await this.getTenant(id))!;
  }

  async setPolicy(tenantId: string, policy: Policy): Promise<boolean> {
    const r = await this.db.prepare('UPDATE tenants SET policy = ? WHERE id = ?').bind(JSON.stringify(policy), tenantId).run();
    return r.meta.changes > 0;
  }
}
