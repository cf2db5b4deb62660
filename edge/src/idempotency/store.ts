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

/** How long a kept response is replayed for its key (IDEMPOTENCY_TTL_HOURS, default 24 h). */
const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/**
 * How long a claim may stay pending (its first call running) before it counts as abandoned (an
 * isolate that died, a connection dropped before the claim was released) and the key is free
 * again: longer than any call runs (the concurrency slots' 30 minutes).
 */
const PENDING_DEADLINE_MS = 30 * 60_000;

/** D1 (strongly consistent, one primary) so two concurrent first calls cannot both claim a key. */
export class IdempotencyStore {
  constructor(
    private readonly db: D1Database,
    private readonly ttlMs = DEFAULT_IDEMPOTENCY_TTL_MS,
  ) {}

  /**
   * True when this call claimed the key; false when another call holds it. Expired rows of the
   * tenant (kept responses past the TTL, claims pending past the deadline) are dropped first, in
   * the same transaction, so an expired key is claimed anew.
   */
  async claim(tenantId: string, key: string, requestHash: string, requestId: string | null, now = Date.now()): Promise<boolean> {
    const [, inserted] = await this.db.batch([
      this.db
        .prepare(
          "DELETE FROM idempotency_keys WHERE tenant_id = ? AND ((state = 'done' AND created_at < ?) OR (state = 'pending' AND " +
            'created_at < ?))',
        )
        .bind(tenantId, now - this.ttlMs, now - PENDING_DEADLINE_MS),
      this.db
        .prepare(
          'INSERT OR IGNORE INTO idempotency_keys (tenant_id, key, request_hash, state, request_id, created_at) VALUES (?, ?, ?, ' +
            "'pending', ?, ?)",
        )
        .bind(tenantId, key, requestHash, requestId, now),
    ]);
    return inserted.meta.changes > 0;
  }

  get(tenantId: string, key: string): Promise<IdempotencyRow | null> {
    return this.db.prepare('SELECT * FROM idempotency_keys WHERE tenant_id = ? AND key = ?').bind(tenantId, key).first<IdempotencyRow>();
  }

  async complete(tenantId: string, key: string, status: number, contentType: string, body: string): Promise<void> {
    await this.db
      .prepare("UPDATE idempotency_keys SET state = 'done', status = ?, content_type = ?, body = ? WHERE tenant_id = ? AND key = ?")
      .bind(status, contentType, body, tenantId, key)
      .run();
  }

  /** Forgets a claim whose call failed on our side, so a retry runs again. */
  async release(tenantId: string, key: string): Promise<void> {
    await this.db.prepare("DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND state = 'pending'").bind(tenantId, key).run();
  }
}
