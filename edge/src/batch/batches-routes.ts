import { Hono } from 'hono';
import { z } from 'zod';
import { requireScope } from '../auth';
import { newId } from '../auth/keys';
import type { AppEnv } from '../env';
import { invalidRequest, notFound } from '../errors/api-error';
import { idempotency } from '../idempotency';
import { validate } from '../openai/validator';
import { batchObject } from './batch-object';
import { createBatch } from './create';
import { finalizeBatch } from './finalize';
import { BATCH_ENDPOINTS } from './messages';
import { sweepOrphanedLines } from './sweep';
import { BatchStore } from './store';

const CreateBatchSchema = z
  .object({
    input_file_id: z.string().min(1).max(200),
    endpoint: z.enum(BATCH_ENDPOINTS),
    completion_window: z.literal('24h'),
    metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
  })
  .strict();
const BatchIdSchema = z.object({ id: z.string().regex(/^batch_[A-Za-z0-9_-]{1,64}$/, 'not a batch id') });
const ListSchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: BatchIdSchema.shape.id.optional(),
});

const noSuchBatch = (id: string) => notFound('batch_id', `no batch ${id}`, 'batch_not_found');

/** The batch API (OpenAI's shape): create from an uploaded file, read progress, cancel, list. Per tenant. */
export const batches = new Hono<AppEnv>()
  .use(requireScope('generate'))
  .post('/', idempotency(), validate('json', CreateBatchSchema), async (c) => {
    const req = c.req.valid('json');
    const store = new BatchStore(c.env.DB);
    const file = await store.getFile(c.var.principal.tenantId, req.input_file_id);
    if (!file) throw notFound('input_file_id', `no file ${req.input_file_id}`, 'file_not_found');
    if (file.purpose !== 'batch') throw invalidRequest('input_file_id', 'the file was not uploaded with purpose=batch');
    const object = await c.env.FILES.get(file.r2_key);
    if (!object) throw notFound('input_file_id', `no file ${req.input_file_id}`, 'file_not_found');
    const batch = await createBatch(
      c.env,
      c.var.principal,
      file,
      await object.text(),
      { endpoint: req.endpoint, completion_window: req.completion_window, metadata: req.metadata ?? undefined },
      newId('batch'),
    );
    return c.json(batchObject(batch, await store.counts(batch.id)), 200);
  })
  .get('/', validate('query', ListSchema), async (c) => {
    const store = new BatchStore(c.env.DB);
    const { limit, after } = c.req.valid('query');
    const cursor = after ? await store.getBatch(c.var.principal.tenantId, after) : undefined;
    if (cursor === null) throw notFound('after', `no batch ${after}`, 'batch_not_found');
    const { rows, hasMore } = await store.listBatches(c.var.principal.tenantId, { limit, after: cursor });
    const data = await Promise.all(rows.map(async (b) => batchObject(b, await store.counts(b.id))));
    return c.json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore });
  })
  .get('/:id', validate('param', BatchIdSchema), async (c) => {
    const store = new BatchStore(c.env.DB);
    const { id } = c.req.valid('param');
    let batch = await store.getBatch(c.var.principal.tenantId, id);
    if (!batch) throw noSuchBatch(id);
    if (batch.status === 'in_progress' || batch.status === 'cancelling' || batch.status === 'finalizing') {
      // Lines a dead creation left unqueued are enqueued again (the cron does it too).
      await sweepOrphanedLines(c.env, batch);
      // Finishing is normally the consumer's; doing it here too makes a lost finalize harmless.
      await finalizeBatch(c.env, store, id);
      batch = (await store.getBatch(c.var.principal.tenantId, id))!;
    }
    return c.json(batchObject(batch, await store.counts(id)));
  })
  .post('/:id/cancel', validate('param', BatchIdSchema), async (c) => {
    const store = new BatchStore(c.env.DB);
    const { id } = c.req.valid('param');
    const { tenantId } = c.var.principal;
    if (!(await store.getBatch(tenantId, id))) throw noSuchBatch(id);
    await c.env.DB.prepare(
      "UPDATE batches SET status = 'cancelling', cancelling_at = ? WHERE id = ? AND tenant_id = ? AND status = 'in_progress'",
    )
      .bind(Date.now(), id, tenantId)
      .run();
    await finalizeBatch(c.env, store, id);
    const batch = (await store.getBatch(tenantId, id))!;
    return c.json(batchObject(batch, await store.counts(id)));
  });
