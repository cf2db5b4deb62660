import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { requireScope } from '../auth';
import { newId } from '../auth/keys';
import type { AppEnv } from '../env';
import { invalidRequest, notFound } from '../errors/api-error';
import { validate } from '../openai/validator';
import { BatchStore, r2KeyOf, type FileRow } from './store';

/** Batch input files up to 100 MB (Workers' request body limit on the Free/Pro plans). */
export const MAX_FILE_BYTES = 100 * 1024 * 1024;

const UploadSchema = z.object({ purpose: z.literal('batch', { message: 'only purpose=batch is supported' }), file: z.instanceof(File, { message: 'a file part is required' }) });
const FileIdSchema = z.object({ id: z.string().regex(/^file[-_][A-Za-z0-9_-]{1,128}$/, 'not a file id') });

const fileObject = (f: FileRow) => ({ id: f.id, object: 'file', bytes: f.bytes, created_at: Math.floor(f.created_at / 1000), filename: f.filename, purpose: f.purpose, status: 'processed' });
const noSuchFile = (id: string) => notFound('file_id', `no file ${id}`, 'file_not_found');

/** Files (R2): upload a batch input (multipart, purpose=batch), read metadata, download content. Per tenant. */
export const files = new Hono<AppEnv>()
  .post('/', requireScope('generate'), bodyLimit({ maxSize: MAX_FILE_BYTES, onError: () => { throw new HTTPException(413, { message: `file exceeds ${MAX_FILE_BYTES} bytes` }); } }), async (c) => {
    let form: Record<string, unknown>;
    try {
      form = await c.req.parseBody();
    } catch {
      throw invalidRequest(null, 'expected multipart/form-data with purpose and file', 'invalid_multipart');
    }
    const parsed = UploadSchema.safeParse(form);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw invalidRequest(issue.path.join('.') || null, `${issue.path.join('.')}: ${issue.message}`);
    }
    const { file } = parsed.data;
    const { tenantId } = c.var.principal;
    const id = newId('file');
    const row: FileRow = { id, tenant_id: tenantId, purpose: 'batch', filename: file.name || 'input.jsonl', bytes: file.size, r2_key: r2KeyOf(tenantId, id), created_at: Date.now() };
    await c.env.FILES.put(row.r2_key, await file.arrayBuffer(), { httpMetadata: { contentType: 'application/jsonl' } });
    await new BatchStore(c.env.DB).insertFile(row);
    return c.json(fileObject(row), 200);
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
