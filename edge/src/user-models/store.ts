import type { UserModelFailure } from '../../../shared/protocol';

export type UserModelStatus = 'uploading' | 'validating' | 'ready' | 'failed';

export interface UserModelRow {
  tenant_id: string;
  name: string;
  version: number;
  status: UserModelStatus;
  manifest: string;
  bytes: number;
  /** JSON array of core model ids. */
  compatible_models: string;
  error_code: string | null;
  error_param: string | null;
  error_message: string | null;
  validation_attempts: number;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  purged: number;
}

export interface UserModelFileRow {
  path: string;
  bytes: number;
  sha256: string;
  uploaded_at: number | null;
}

export interface NewVersion {
  tenantId: string;
  name: string;
  manifest: string;
  files: readonly { path: string; bytes: number; sha256: string }[];
  compatibleModels: readonly string[];
}

/** D1 access for uploaded user models (migration 0006). Every read and write is scoped to a tenant. */
export class UserModelStore {
  constructor(readonly db: D1Database) {}

  /**
   * A new version, numbered one above the name's highest (deleted ones included, so a number is
   * never reused), with its files pending. One statement picks the number, so two concurrent
   * uploads of a name get two versions.
   */
  async create(v: NewVersion, now = Date.now()): Promise<UserModelRow> {
    const bytes = v.files.reduce((n, f) => n + f.bytes, 0);
    const row = await this.db
      .prepare(
        `INSERT INTO user_models (tenant_id, name, version, status, manifest, bytes, compatible_models, created_at, updated_at)
         SELECT ?1, ?2, COALESCE(MAX(version), 0) + 1, 'uploading', ?3, ?4, ?5, ?6, ?6 FROM user_models WHERE tenant_id = ?1 AND name = ?2
         RETURNING *`,
      )
      .bind(v.tenantId, v.name, v.manifest, bytes, JSON.stringify(v.compatibleModels), now)
      .first<UserModelRow>();
    await this.db
      .prepare(
        `INSERT INTO user_model_files (tenant_id, name, version, path, bytes, sha256)
         SELECT ?1, ?2, ?3, json_extract(value, '$.path'), json_extract(value, '$.bytes'), json_extract(value, '$.sha256')
         FROM json_each(?4)`,
      )
      .bind(v.tenantId, v.name, row!.version, JSON.stringify(v.files))
      .run();
    return row!;
  }

  /** A version that is not deleted. */
  get(tenantId: string, name: string, version: number): Promise<UserModelRow | null> {
    return this.db
      .prepare('SELECT * FROM user_models WHERE tenant_id = ? AND name = ? AND version = ? AND deleted_at IS NULL')
      .bind(tenantId, name, version)
      .first<UserModelRow>();
  }

  /** Every version of a name, deleted ones included, newest first. */
  async versions(tenantId: string, name: string): Promise<UserModelRow[]> {
    const { results } = await this.db
      .prepare('SELECT * FROM user_models WHERE tenant_id = ? AND name = ? ORDER BY version DESC')
      .bind(tenantId, name)
      .all<UserModelRow>();
    return results;
  }

  /** The tenant's versions that are not deleted, newest first. */
  async list(tenantId: string, limit: number): Promise<UserModelRow[]> {
    const { results } = await this.db
      .prepare('SELECT * FROM user_models WHERE tenant_id = ? AND deleted_at IS NULL ORDER BY created_at DESC, name, version DESC LIMIT ?')
      .bind(tenantId, limit)
      .all<UserModelRow>();
    return results;
  }

  async files(tenantId: string, name: string, version: number): Promise<UserModelFileRow[]> {
    const { results } = await this.db
      .prepare(
        'SELECT path, bytes, sha256, uploaded_at FROM user_model_files WHERE tenant_id = ? AND name = ? AND version = ? ORDER BY path',
      )
      .bind(tenantId, name, version)
      .all<UserModelFileRow>();
    return results;
  }

  /** Bytes the tenant stores in user models: every version not deleted and not failed (failed ones are removed from the bucket). */
  async storedBytes(tenantId: string): Promise<number> {
    const row = await this.db
      .prepare("SELECT COALESCE(SUM(bytes), 0) AS n FROM user_models WHERE tenant_id = ? AND deleted_at IS NULL AND status != 'failed'")
      .bind(tenantId)
      .first<{ n: number }>();
    return row?.n ?? 0;
  }

  async markUploaded(tenantId: string, name: string, version: number, path: string, now = Date.now()): Promise<void> {
    await this.db
      .prepare('UPDATE user_model_files SET uploaded_at = ? WHERE tenant_id = ? AND name = ? AND version = ? AND path = ?')
      .bind(now, tenantId, name, version, path)
      .run();
  }

  /**
   * uploading → validating once every file is stored. One statement, so of two uploads that finish
   * together exactly one sees `true` and starts the validation.
   */
  async startValidation(tenantId: string, name: string, version: number, now = Date.now()): Promise<boolean> {
    const r = await this.db
      .prepare(
        `UPDATE user_models SET status = 'validating', updated_at = ?4 WHERE tenant_id = ?1 AND name = ?2 AND version = ?3
        AND status = 'uploading' AND deleted_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM user_model_files f WHERE f.tenant_id = ?1 AND f.name = ?2 AND f.version = ?3
         AND f.uploaded_at IS NULL)`,
      )
      .bind(tenantId, name, version, now)
      .run();
    return r.meta.changes === 1;
  }

  /** Counts a validation attempt (the sweep gives up after a few). */
  async countAttempt(tenantId: string, name: string, version: number, now = Date.now()): Promise<void> {
    await this.db
      .prepare(
        'UPDATE user_models SET validation_attempts = validation_attempts + 1, updated_at = ? WHERE tenant_id = ? AND name = ? AND ' +
          "version = ? AND status = 'validating'",
      )
      .bind(now, tenantId, name, version)
      .run();
  }

  async markReady(tenantId: string, name: string, version: number, now = Date.now()): Promise<void> {
    await this.db
      .prepare(
        "UPDATE user_models SET status = 'ready', updated_at = ? WHERE tenant_id = ? AND name = ? AND version = ? AND status = " +
          "'validating'",
      )
      .bind(now, tenantId, name, version)
      .run();
  }

  /**
   * A failed version's files are removed from the bucket (by the worker, or the sweep). The message
   * is kept without the file it names in front (`error_param` holds that).
   */
  async markFailed(tenantId: string, name: string, version: number, error: UserModelFailure, now = Date.now()): Promise<void> {
    const prefix = error.param ? `${error.param}: ` : '';
    const message = prefix && error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    await this.db
      .prepare(
        "UPDATE user_models SET status = 'failed', error_code = ?, error_param = ?, error_message = ?, updated_at = ? WHERE tenant_id = " +
          "? AND name = ? AND version = ? AND status IN ('uploading', 'validating')",
      )
      .bind(error.code, error.param, message, now, tenantId, name, version)
      .run();
  }

  /** Marks versions deleted (every one of the name when `version` is null); returns the rows it deleted. */
  async markDeleted(tenantId: string, name: string, version: number | null, now = Date.now()): Promise<UserModelRow[]> {
    const { results } = await this.db
      .prepare(
        'UPDATE user_models SET deleted_at = ?, updated_at = ? WHERE tenant_id = ? AND name = ? AND (? IS NULL OR version = ?) AND ' +
          'deleted_at IS NULL RETURNING *',
      )
      .bind(now, now, tenantId, name, version, version)
      .all<UserModelRow>();
    return results;
  }

  async markPurged(tenantId: string, name: string, version: number): Promise<void> {
    await this.db
      .prepare('UPDATE user_models SET purged = 1 WHERE tenant_id = ? AND name = ? AND version = ?')
      .bind(tenantId, name, version)
      .run();
  }

  /**
   * Across tenants, for the sweep: versions validating with no progress since `validatingBefore`,
   * uploads begun before `uploadingBefore` and never finished, and deleted or failed versions
   * whose files may still be in the bucket.
   */
  async needingSweep(
    at: { validatingBefore: number; uploadingBefore: number },
    limit: number,
  ): Promise<{ validating: UserModelRow[]; stale: UserModelRow[]; unpurged: UserModelRow[] }> {
    const [validating, stale, unpurged] = await this.db.batch<UserModelRow>([
      this.db
        .prepare("SELECT * FROM user_models WHERE status = 'validating' AND deleted_at IS NULL AND updated_at < ? LIMIT ?")
        .bind(at.validatingBefore, limit),
      this.db
        .prepare("SELECT * FROM user_models WHERE status = 'uploading' AND deleted_at IS NULL AND created_at < ? LIMIT ?")
        .bind(at.uploadingBefore, limit),
      this.db
        .prepare("SELECT * FROM user_models WHERE purged = 0 AND (deleted_at IS NOT NULL OR status = 'failed') AND updated_at < ? LIMIT ?")
        .bind(at.validatingBefore, limit),
    ]);
    return { validating: validating.results, stale: stale.results, unpurged: unpurged.results };
  }
}
