import { Hono } from 'hono';
import { z } from 'zod';
import { parseUserModelId, ProtocolError, type UserModelObject } from '../../../shared/protocol';
import { requireScope } from '../auth';
import { AuthStore } from '../auth/store';
import type { AppEnv, Env } from '../env';
import { ApiError, invalidRequest, notFound } from '../errors/api-error';
import { servedModels } from '../models/catalog';
import { validate } from '../openai/validator';
import { purgeVersion, validateVersion } from './lifecycle';
import { UserModelStore, type UserModelFileRow, type UserModelRow } from './store';
import { checkUpload, CreateUserModelSchema, DEFAULT_MAX_FILE_BYTES, DEFAULT_QUOTA_BYTES } from './upload-check';
import { workerUploads } from './worker-calls';

/** The wire object of one version (docs/edge.md, "User models"). */
function userModelObject(row: UserModelRow, files: readonly UserModelFileRow[]): UserModelObject {
  return {
    id: `${row.name}@${row.version}`,
    object: 'user_model',
    name: row.name,
    version: row.version,
    status: row.status,
    created_at: Math.floor(row.created_at / 1000),
    bytes: row.bytes,
    files: files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256, uploaded: f.uploaded_at !== null })),
    compatible_models: JSON.parse(row.compatible_models) as string[],
    error: row.status === 'failed' ? { code: row.error_code, param: row.error_param, message: row.error_message } : null,
  };
}

const IdParam = z.object({ id: z.string().refine((id) => parseUserModelId(id) !== null, 'not a user model id (name or name@version)') });

const noSuchModel = (id: string) =>
  notFound('id', `no user model ${id} for this tenant; GET /v1/user_models lists them`, 'user_model_not_found');

/** `name@version`, or a name's newest version that is not deleted. */
async function findVersion(store: UserModelStore, tenantId: string, id: string): Promise<UserModelRow> {
  const { name, version } = parseUserModelId(id)!;
  const row =
    version !== undefined
      ? await store.get(tenantId, name, version)
      : (await store.versions(tenantId, name)).find((r) => r.deleted_at === null);
  if (!row) throw noSuchModel(id);
  return row;
}

async function describeVersion(store: UserModelStore, row: UserModelRow) {
  return userModelObject(row, await store.files(row.tenant_id, row.name, row.version));
}

function limitsOf(env: Env, policyQuota: number | undefined) {
  return {
    maxFileBytes: Number(env.USER_MODEL_MAX_FILE_BYTES) || DEFAULT_MAX_FILE_BYTES,
    quotaBytes: policyQuota ?? (Number(env.USER_MODEL_QUOTA_BYTES) || DEFAULT_QUOTA_BYTES),
  };
}

/**
 * User models a tenant uploads (docs/edge.md): POST the manifest to create a version, PUT each
 * file it lists (streamed through a GPU worker into the model bucket under the tenant's prefix),
 * and the version validates itself on a worker once the last file is in; GET, list and DELETE.
 * Everything is scoped to the caller's tenant: another tenant's models answer 404.
 */
export const userModels = new Hono<AppEnv>()
  .use(requireScope('models'))
  .post('/', validate('json', CreateUserModelSchema), async (c) => {
    const { name, manifest } = c.req.valid('json');
    const { tenantId } = c.var.principal;
    const store = new UserModelStore(c.env.DB);
    const policy = (await new AuthStore(c.env.DB).getTenant(tenantId))?.policy;
    const checked = checkUpload(manifest, await servedModels(c.env, tenantId), {
      ...limitsOf(c.env, policy?.max_user_model_bytes),
      storedBytes: await store.storedBytes(tenantId),
    });
    const row = await store.create({
      tenantId,
      name,
      manifest: checked.text,
      files: checked.manifest.files,
      compatibleModels: checked.compatible.map((m) => m.id),
    });
    return c.json(await describeVersion(store, row), 201);
  })
  .get('/', validate('query', z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) })), async (c) => {
    const store = new UserModelStore(c.env.DB);
    const rows = await store.list(c.var.principal.tenantId, c.req.valid('query').limit);
    return c.json({ object: 'list', data: await Promise.all(rows.map((r) => describeVersion(store, r))) });
  })
  .get('/:id', validate('param', IdParam), async (c) => {
    const store = new UserModelStore(c.env.DB);
    return c.json(await describeVersion(store, await findVersion(store, c.var.principal.tenantId, c.req.valid('param').id)));
  })
  .put('/:id/files/:path{.+}', validate('param', IdParam.extend({ path: z.string() })), async (c) => {
    const { id, path } = c.req.valid('param');
    const { tenantId } = c.var.principal;
    if (parseUserModelId(id)!.version === undefined)
      throw invalidRequest('id', `upload to a version: PUT /v1/user_models/${id}@<version>/files/${path}`);
    const store = new UserModelStore(c.env.DB);
    const row = await findVersion(store, tenantId, id);
    if (row.status !== 'uploading')
      throw new ApiError(
        409,
        'invalid_request_error',
        'upload_closed',
        `${id} is ${row.status}: its files can no longer change; upload a new version`,
        'id',
      );
    const file = (await store.files(tenantId, row.name, row.version)).find((f) => f.path === path);
    if (!file) throw notFound('path', `${id}'s manifest lists no file "${path}"`, 'file_not_in_manifest');
    const length = c.req.header('content-length');
    if (length !== undefined && Number(length) !== file.bytes)
      throw invalidRequest(path, `${path} is ${length} bytes; the manifest says ${file.bytes}`, 'file_mismatch');
    if (!c.req.raw.body) throw invalidRequest(path, `the request has no body: send the ${file.bytes} bytes of ${path}`, 'file_mismatch');
    const v = { tenantId, name: row.name, version: row.version };
    try {
      await workerUploads.putFile(c.env, v, file, c.req.raw.body);
    } catch (err) {
      if (err instanceof ProtocolError && err.status === 422) throw invalidRequest(path, err.message, err.code);
      throw err;
    }
    await store.markUploaded(tenantId, row.name, row.version, path);
    // The last file in starts the validation; the caller polls GET /v1/user_models/{id} for its end.
    const started = await store.startValidation(tenantId, row.name, row.version);
    const current = (await store.get(tenantId, row.name, row.version))!;
    if (started) c.executionCtx.waitUntil(validateVersion(c.env, current));
    return c.json(await describeVersion(store, current));
  })
  .delete('/:id', validate('param', IdParam), async (c) => {
    const { id } = c.req.valid('param');
    const { name, version } = parseUserModelId(id)!;
    const deleted = await new UserModelStore(c.env.DB).markDeleted(c.var.principal.tenantId, name, version ?? null);
    if (deleted.length === 0) throw noSuchModel(id);
    // Requests that name it fail from now on; its files leave the bucket now or at the next sweep.
    c.executionCtx.waitUntil(Promise.all(deleted.map((row) => purgeVersion(c.env, row))));
    return c.json({ id, object: 'user_model', deleted: true, versions: deleted.map((r) => r.version) });
  });
