/** A claimed Idempotency-Key: pending while its first call runs, then the stored response. */
export interface IdempotencyRow {
  tenant_id: string;
  key: string;
  request_hash: string;
  state: 'pending' | 'done';
  status: number | null;
  content_type: string | null;
  body: string | null;
  request_id: string | null;
  created_at: number;
}

/** D1 (strongly consistent, one primary) so two concurrent first calls cannot both claim a key. */
export class IdempotencyStore {
  constructor(private readonly db: D1Database) {}

  /** True when this call claimed the key; false when another call holds it. */
  async claim(tenantId: string, key: string, requestHash: string, requestId: string | null): Promise<boolean> {
    const r = await this.db
      .prepare("INSERT OR IGNORE INTO idempotency_keys (tenant_id, key, request_hash, state, request_id, created_at) VALUES (?, ?, ?, 'pending', ?, ?)")
      .bind(tenantId, key, requestHash, requestId, Date.now())
      .run();
    return r.meta.changes > 0;
  }

  get(tenantId: string, key: string): Promise<IdempotencyRow | null> {
    return this.db.prepare('SELECT * FROM idempotency_keys WHERE tenant_id = ? AND key = ?').bind(tenantId, key).first<IdempotencyRow>();
  }

  async complete(tenantId: string, key: string, status: number, contentType: string, body: string): Promise<void> {
    await this.db.prepare("UPDATE idempotency_keys SET state = 'done', status = ?, content_type = ?, body = ? WHERE tenant_id = ? AND key = ?").bind(status, contentType, body, tenantId, key).run();
  }

  /** Forgets a claim whose call failed on our side, so a retry runs again. */
  async release(tenantId: string, key: string): Promise<void> {
    await this.db.prepare("DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND state = 'pending'").bind(tenantId, key).run();
  }
}
