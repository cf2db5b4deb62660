import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { requireScope } from '../auth';
import { AuthStore } from '../auth/store';
import { newId } from '../auth/keys';
import type { AppEnv } from '../env';
import { ApiError, invalidRequest, notFound } from '../errors/api-error';
import { validate } from '../openai/validator';
import { BatchStore, r2KeyOf, type FileRow } from './store';
import { firstIssue } from '../../../shared/errors';

/** Batch input files up to 100 MB (Workers' request body limit on the Free/Pro plans). */
const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** FILES_QUOTA_BYTES's default: bytes of files (inputs and batch outputs) one tenant may store. */
const DEFAULT_FILES_QUOTA_BYTES = 10 * 1024 ** 3;

const UploadSchema = z.object({
  purpose: z.literal('batch', { message: 'only purpose=batch is supported' }),
  file: z.instanceof(File, { message: 'a file part is required' }),
});
const FileIdSchema = z.object({ id: z.string().regex(/^file[-_][A-Za-z0-9_-]{1,128}$/, 'not a file id') });

const fileObject = (f: FileRow) => ({
  id: f.id,
  object: 'file',
  bytes: f.bytes,
  created_at: Math.floor(f.created_at / 1000),
  filename: f.filename,
  purpose: f.purpose,
  status: 'processed',
});
const noSuchFile = (id: string) => notFound('file_id', `no file ${id}`, 'file_not_found');
const ListFilesSchema = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).default(10_000),
  order: z.enum(['asc', 'desc']).default('desc'),
  after: FileIdSchema.shape.id.optional(),
  purpose: z.enum(['batch', 'batch_output']).optional(),
});

/**
 * Files (R2): upload a batch input (multipart, purpose=batch; a storage quota per tenant), read
 * metadata, download content, delete. Per tenant.
 */
export const files = new Hono<AppEnv>()
  .post(
    '/',
    requireScope('generate'),
    bodyLimit({
      maxSize: MAX_FILE_BYTES,
      onError: () => {
        throw new HTTPException(413, { message: `file exceeds ${MAX_FILE_BYTES} bytes` });
      },
    }),
    async (c) => {
      let form: Record<string, unknown>;
      try {
        form = await c.req.parseBody();
      } catch {
        throw invalidRequest(null, 'expected multipart/form-data with purpose and file', 'invalid_multipart');
      }
      const parsed = UploadSchema.safeParse(form);
      if (!parsed.success) {
        const { field, text } = firstIssue(parsed.error, '');
        throw invalidRequest(field, text);
      }
      const { file } = parsed.data;
      const { tenantId } = c.var.principal;
      const store = new BatchStore(c.env.DB);
      const quota =
        (await new AuthStore(c.env.DB).getTenant(tenantId))?.policy.max_stored_file_bytes ??
        (Number(c.env.FILES_QUOTA_BYTES) || DEFAULT_FILES_QUOTA_BYTES);
      const stored = await store.storedBytes(tenantId);
      if (stored + file.size > quota) {
        throw invalidRequest(
          'file',
          `this tenant stores ${stored} bytes of files; ${file.size} more would pass its quota of ${quota} bytes (DELETE /v1/files/{id} ` +
            `frees space)`,
          'storage_quota_exceeded',
        );
      }
      const id = newId('file');
      const row: FileRow = {
        id,
        tenant_id: tenantId,
        purpose: 'batch',
        filename: file.name || 'input.jsonl',
        bytes: file.size,
        r2_key: r2KeyOf(tenantId, id),
        created_at: Date.now(),
      };
      // The parsed part goes to R2 as it is (a Blob), not copied into another buffer first.
      await c.env.FILES.put(row.r2_key, file, { httpMetadata: { contentType: 'application/jsonl' } });
      await store.insertFile(row);
      return c.json(fileObject(row), 200);
    },
  )
  .delete('/:id', requireScope('generate'), validate('param', FileIdSchema), async (c) => {
    const { id } = c.req.valid('param');
    const { tenantId } = c.var.principal;
    const store = new BatchStore(c.env.DB);
    const f = await store.getFile(tenantId, id);
    if (!f) throw noSuchFile(id);
    // A running batch reads its input again to recover lines a dead creation left unqueued.
    if (await store.fileInUse(tenantId, id))
      throw new ApiError(
        409,
        'invalid_request_error',
        'file_in_use',
        `file ${id} is the input of a batch that is still running; delete it once the batch has ended`,
        'file_id',
      );
    await c.env.FILES.delete(f.r2_key);
    await store.deleteFile(tenantId, id);
    return c.json({ id, object: 'file', deleted: true });
  })
  .get('/', requireScope('generate'), validate('query', ListFilesSchema), async (c) => {
    const { after, ...q } = c.req.valid('query');
    const store = new BatchStore(c.env.DB);
    const cursor = after ? await store.getFile(c.var.principal.tenantId, after) : undefined;
    if (cursor === null) throw notFound('after', `no file ${after}`, 'file_not_found');
    const { rows, hasMore } = await store.listFiles(c.var.principal.tenantId, { ...q, after: cursor });
    const data = rows.map(fileObject);
    return c.json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore });
  })
  .get('/:id', requireScope('generate'), validate('param', FileIdSchema), async (c) => {
    const f = await new BatchStore(c.env.DB).getFile(c.var.principal.tenantId, c.req.valid('param').id);
    if (!f) throw noSuchFile(c.req.valid('param').id);
    return c.json(fileObject(f));
  })
  .get('/:id/content', requireScope('generate'), validate('param', FileIdSchema), async (c) => {
    const { id } = c.req.valid('param');
    const f = await new BatchStore(c.env.DB).getFile(c.var.principal.tenantId, id);
    const object = f ? await c.env.FILES.get(f.r2_key) : null;
    if (!f || !object) throw noSuchFile(id);
    return new Response(object.body, { headers: { 'content-type': 'application/jsonl', 'content-length': String(object.size) } });
  });
