import { parseUserModelId, uploadedBundlePath, UPLOADED_BUNDLE_FOLDER } from '../../../shared/protocol';
import { ApiError, invalidRequest, notFound } from '../errors/api-error';
import type { ServedModel } from '../models/catalog';
import { UserModelStore } from './store';

/** What a generation runs as its user model: the bundle path under the tenant's prefix, and the name usage rows record. */
export interface ResolvedUserModel {
  bundle: string;
  /** `name@version` of an uploaded model; the bundle path of one an operator placed. */
  id: string;
}

/**
 * The `user_model` of a request. A name the tenant uploaded resolves to its newest `ready`
 * version (or the version `name@version` names), which must fit the core; anything else is a
 * bundle path an operator placed under the tenant's prefix (docs/deploy.md), passed on as it is.
 * Uploaded bundles are reachable only by name, so a version that failed validation or was
 * deleted is never served.
 */
export async function resolveUserModel(db: D1Database, tenantId: string, requested: string, core: ServedModel): Promise<ResolvedUserModel> {
  const ownPath = requested.replace(new RegExp(`^tenants/${tenantId}/`), '');
  if (ownPath === UPLOADED_BUNDLE_FOLDER || ownPath.startsWith(`${UPLOADED_BUNDLE_FOLDER}/`)) {
    throw invalidRequest('user_model', `name an uploaded user model by its name or name@version, not by its storage path ("${requested}")`);
  }
  const id = parseUserModelId(requested);
  if (!id) return { bundle: requested, id: requested };
  const versions = await new UserModelStore(db).versions(tenantId, id.name);
  if (versions.length === 0) {
    if (id.version !== undefined)
      throw notFound('user_model', `no user model ${requested} for this tenant; GET /v1/user_models lists them`, 'user_model_not_found');
    return { bundle: requested, id: requested };
  }
  const live = versions.filter((v) => v.deleted_at === null);
  const row = id.version !== undefined ? live.find((v) => v.version === id.version) : (live.find((v) => v.status === 'ready') ?? live[0]);
  if (!row) {
    const what =
      id.version === undefined
        ? `user model ${requested} was deleted (every version, the newest ${requested}@${versions[0].version})`
        : versions.some((v) => v.version === id.version)
          ? `user model ${requested} was deleted`
          : `no user model ${requested} for this tenant`;
    throw notFound('user_model', `${what}; GET /v1/user_models lists the tenant's models`, 'user_model_not_found');
  }
  const name = `${row.name}@${row.version}`;
  if (row.status === 'failed')
    throw invalidRequest(
      'user_model',
      `user model ${name} failed validation (${row.error_param ? `${row.error_param}: ` : ''}${row.error_message}); upload a corrected ` +
        `version`,
      'user_model_failed',
    );
  if (row.status !== 'ready') {
    throw new ApiError(
      409,
      'invalid_request_error',
      'user_model_not_ready',
      `user model ${name} is ${row.status}; use it once GET /v1/user_models/${name} says "ready"`,
      'user_model',
    );
  }
  if (!(JSON.parse(row.compatible_models) as string[]).includes(core.id)) {
    throw invalidRequest(
      'user_model',
      `user model ${name} does not fit the core ${core.id} (vocabulary, tokenizer, K or schedule differ); it fits: ` +
        `${row.compatible_models}`,
      'incompatible_models',
    );
  }
  return { bundle: uploadedBundlePath(row.name, row.version), id: name };
}
