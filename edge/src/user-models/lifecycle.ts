import type { Env } from '../env';
import { servedModels } from '../models/catalog';
import { UserModelStore, type UserModelRow } from './store';
import { workerUploads } from './worker-calls';

/** Validation attempts (each a worker call that did not answer) before a version is failed. */
const MAX_VALIDATION_ATTEMPTS = 5;
/** A version validating with no answer for this long (longer than a validation may take) is tried again by the sweep. */
export const VALIDATION_RETRY_AFTER_MS = 6 * 60_000;
/** An upload whose files have not all arrived after this long is failed (and its files removed). */
const UPLOAD_EXPIRES_AFTER_MS = 24 * 3_600_000;

const ref = (row: UserModelRow) => ({ tenantId: row.tenant_id, name: row.name, version: row.version });

/**
 * Asks a GPU worker to validate a version whose files are all stored and records the answer:
 * `ready`, or `failed` with the reason (the worker has then removed its files). A worker that does
 * not answer leaves it `validating`; the sweep tries again, and fails it after MAX_VALIDATION_ATTEMPTS.
 */
export async function validateVersion(env: Env, row: UserModelRow): Promise<void> {
  const store = new UserModelStore(env.DB);
  const compatible = JSON.parse(row.compatible_models) as string[];
  const cores = (await servedModels(env, row.tenant_id)).filter((m) => compatible.includes(m.id)).map((m) => m.ref);
  await store.countAttempt(row.tenant_id, row.name, row.version);
  try {
    const result = await workerUploads.validate(env, ref(row), row.manifest, cores);
    if (result.status === 'ready') await store.markReady(row.tenant_id, row.name, row.version);
    else {
      await store.markFailed(row.tenant_id, row.name, row.version, result.error);
      await store.markPurged(row.tenant_id, row.name, row.version);
    }
  } catch (err) {
    console.error('user model validation did not complete', `${row.tenant_id}/${row.name}@${row.version}`, (err as Error)?.message ?? err);
    if (row.validation_attempts + 1 >= MAX_VALIDATION_ATTEMPTS) {
      await store.markFailed(row.tenant_id, row.name, row.version, {
        code: 'validation_unavailable',
        param: null,
        message: `no GPU worker could validate the bundle in ${MAX_VALIDATION_ATTEMPTS} attempts; upload it again`,
      });
    }
  }
}

/** Removes a deleted or failed version's files from the bucket; false when no worker could (the sweep tries again). */
export async function purgeVersion(env: Env, row: UserModelRow): Promise<boolean> {
  try {
    await workerUploads.remove(env, ref(row));
    await new UserModelStore(env.DB).markPurged(row.tenant_id, row.name, row.version);
    return true;
  } catch (err) {
    console.error('user model files not removed yet', `${row.tenant_id}/${row.name}@${row.version}`, (err as Error)?.message ?? err);
    return false;
  }
}

/**
 * The cron's sweep of user models: validations that got no answer are tried again, uploads left
 * unfinished for UPLOAD_EXPIRES_AFTER_MS are failed, and files of deleted or failed versions are
 * removed. Returns how many versions it acted on.
 */
export async function sweepUserModels(env: Env, now = Date.now()): Promise<number> {
  const store = new UserModelStore(env.DB);
  const { validating, stale, unpurged } = await store.needingSweep(
    { validatingBefore: now - VALIDATION_RETRY_AFTER_MS, uploadingBefore: now - UPLOAD_EXPIRES_AFTER_MS },
    20,
  );
  for (const row of validating) await validateVersion(env, row);
  for (const row of stale) {
    await store.markFailed(
      row.tenant_id,
      row.name,
      row.version,
      {
        code: 'upload_expired',
        param: null,
        message: `not every file arrived within ${UPLOAD_EXPIRES_AFTER_MS / 3_600_000} hours; upload the model again`,
      },
      now,
    );
  }
  for (const row of unpurged) await purgeVersion(env, row);
  return validating.length + stale.length + unpurged.length;
}
