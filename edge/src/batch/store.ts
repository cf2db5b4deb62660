import type { BatchEndpoint } from './messages';

export interface FileRow {
  id: string;
  tenant_id: string;
  purpose: 'batch' | 'batch_output';
  filename: string;
  bytes: number;
  r2_key: string;
  created_at: number;
}

export type BatchStatus = 'in_progress' | 'finalizing' | 'completed' | 'cancelling' | 'cancelled';

export interface BatchRow {
  id: string;
  tenant_id: string;
  key_id: string;
  endpoint: BatchEndpoint;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  total: number;
  output_file_id: string | null;
  error_file_id: string | null;
  metadata: string | null;
  created_at: number;
  in_progress_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
}

export interface LineCounts {
  pending: number;
  ok: number;
  error: number;
}

/** R2 object key of a tenant's file: the tenant is part of the path as well as of the D1 row. */
export const r2KeyOf = (tenantId: string, fileId: string) => `files/${tenantId}/${fileId}.jsonl`;

/** D1 access for files, batches and batch lines. Every read is scoped to a tenant. */
export class BatchStore {
  constructor(readonly db: D1Database) {}

  async insertFile(f: FileRow): Promise<void> {
    await this.db
      .prepare('INSERT OR IGNORE INTO files (id, tenant_id, purpose, filename, bytes, r2_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .bind(f.id, f.tenant_id, f.purpose, f.filename, f.bytes, f.r2_key, f.created_at)
      .run();
  }

  /**
   * A page of the tenant's files, newest first (or oldest with `order: 'asc'`), after the file
   * `after` in that order; one more row than `limit` tells whether there are more.
   */
  async listFiles(
    tenantId: string,
    q: { limit: number; order: 'asc' | 'desc'; after?: FileRow; purpose?: FileRow['purpose'] },
  ): Promise<{ rows: FileRow[]; hasMore: boolean }> {
    const cmp = q.order === 'asc' ? '>' : '<';
    const { results } = await this.db
      .prepare(
        `SELECT * FROM files WHERE tenant_id = ?1 AND (?2 IS NULL OR purpose = ?2) AND (?3 IS NULL OR (created_at, id) ${cmp} (?3, ?4)) ` +
          `ORDER BY created_at ${q.order}, id ${q.order} LIMIT ?5`,
      )
      .bind(tenantId, q.purpose ?? null, q.after?.created_at ?? null, q.after?.id ?? null, q.limit + 1)
      .all<FileRow>();
    return { rows: results.slice(0, q.limit), hasMore: results.length > q.limit };
  }

  getFile(tenantId: string, id: string): Promise<FileRow | null> {
    return this.db.prepare('SELECT * FROM files WHERE id = ? AND tenant_id = ?').bind(id, tenantId).first<FileRow>();
  }

  getBatch(tenantId: string | null, id: string): Promise<BatchRow | null> {
    return tenantId === null
      ? this.db.prepare('SELECT * FROM batches WHERE id = ?').bind(id).first<BatchRow>()
      : this.db.prepare('SELECT * FROM batches WHERE id = ? AND tenant_id = ?').bind(id, tenantId).first<BatchRow>();
  }

  /** A page of the tenant's batches, newest first, after the batch `after`; one more row than `limit` tells whether there are more. */
  async listBatches(tenantId: string, q: { limit: number; after?: BatchRow }): Promise<{ rows: BatchRow[]; hasMore: boolean }> {
    const { results } = await this.db
      .prepare(
        'SELECT * FROM batches WHERE tenant_id = ?1 AND (?2 IS NULL OR (created_at, id) < (?2, ?3)) ORDER BY created_at DESC, id DESC LIMIT ?4',
      )
      .bind(tenantId, q.after?.created_at ?? null, q.after?.id ?? null, q.limit + 1)
      .all<BatchRow>();
    return { rows: results.slice(0, q.limit), hasMore: results.length > q.limit };
  }

  async counts(batchId: string): Promise<LineCounts> {
    const { results } = await this.db
      .prepare('SELECT status, COUNT(*) AS n FROM batch_lines WHERE batch_id = ? GROUP BY status')
      .bind(batchId)
      .all<{ status: keyof LineCounts; n: number }>();
    const c: LineCounts = { pending: 0, ok: 0, error: 0 };
    for (const r of results) c[r.status] = r.n;
    return c;
  }

  getLine(batchId: string, line: number): Promise<{ status: string; attempts: number } | null> {
    return this.db.prepare('SELECT status, attempts FROM batch_lines WHERE batch_id = ? AND line_index = ?').bind(batchId, line).first();
  }

  /** The statement that records a line's outcome; it matches only while the line is pending (exactly once). */
  finishLine(batchId: string, line: number, status: 'ok' | 'error', result: string): D1PreparedStatement {
    return this.db
      .prepare(
        "UPDATE batch_lines SET status = ?, result = ?, finished_at = ? WHERE batch_id = ? AND line_index = ? AND status = 'pending'",
      )
      .bind(status, result, Date.now(), batchId, line);
  }

  async bumpAttempts(batchId: string, line: number): Promise<void> {
    await this.db.prepare('UPDATE batch_lines SET attempts = attempts + 1 WHERE batch_id = ? AND line_index = ?').bind(batchId, line).run();
  }

  /** Finished lines of a status, in input order, a page (of at most `pageSize` lines) at a time. */
  async *results(batchId: string, status: 'ok' | 'error', pageSize = 1000): AsyncGenerator<string[]> {
    for (let after = -1; ; ) {
      const { results } = await this.db
        .prepare(
          'SELECT line_index, result FROM batch_lines WHERE batch_id = ? AND status = ? AND line_index > ? ORDER BY line_index LIMIT ?',
        )
        .bind(batchId, status, after, pageSize)
        .all<{ line_index: number; result: string }>();
      if (results.length === 0) return;
      yield results.map((r) => r.result);
      after = results.at(-1)!.line_index;
    }
  }

  /** Bytes of the tenant's stored files (inputs and outputs), for its storage quota. */
  async storedBytes(tenantId: string): Promise<number> {
    const row = await this.db
      .prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM files WHERE tenant_id = ?')
      .bind(tenantId)
      .first<{ bytes: number }>();
    return row?.bytes ?? 0;
  }

  async deleteFile(tenantId: string, id: string): Promise<void> {
    await this.db.prepare('DELETE FROM files WHERE tenant_id = ? AND id = ?').bind(tenantId, id).run();
  }

  /** Whether a batch that is still running reads this input file. */
  async fileInUse(tenantId: string, fileId: string): Promise<boolean> {
    const row = await this.db
      .prepare(
        "SELECT 1 AS used FROM batches WHERE tenant_id = ? AND input_file_id = ? AND status IN ('in_progress', 'finalizing', " +
          "'cancelling') LIMIT 1",
      )
      .bind(tenantId, fileId)
      .first();
    return row !== null;
  }

  /** Lines waiting or running across every batch, and when the oldest was enqueued. */
  async queueState(): Promise<{ depth: number; oldest: number | null }> {
    const row = await this.db
      .prepare("SELECT COUNT(*) AS depth, MIN(enqueued_at) AS oldest FROM batch_lines WHERE status = 'pending'")
      .first<{ depth: number; oldest: number | null }>();
    return { depth: row?.depth ?? 0, oldest: row?.oldest ?? null };
  }

  async batchesByStatus(): Promise<Record<string, number>> {
    const { results } = await this.db
      .prepare('SELECT status, COUNT(*) AS n FROM batches GROUP BY status')
      .all<{ status: string; n: number }>();
    return Object.fromEntries(results.map((r) => [r.status, r.n]));
  }
}
