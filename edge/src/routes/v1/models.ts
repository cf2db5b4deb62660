import { Hono } from 'hono';
import type { AppEnv } from '../../env';
import { requireScope } from '../../auth';
import { findModel, servedModels, type ServedModel } from '../../models/catalog';

/** Fixed so listings are stable (the bundle has no creation time). */
const CREATED = 1_767_225_600;

const describe = (m: ServedModel) => ({
  id: m.id,
  object: 'model',
  created: CREATED,
  owned_by: 'ssd2',
  ssd2: { version: m.ref.version, block_size: m.blockSize, max_context: m.maxContext, vocab_size: m.vocabSize },
});

/** GET /v1/models and /v1/models/:id */
export const models = new Hono<AppEnv>()
  .use(requireScope('models'))
  .get('/', async (c) => c.json({ object: 'list', data: (await servedModels(c.env, c.var.principal.tenantId)).map(describe) }))
  .get('/:id', async (c) => c.json(describe(await findModel(c.env, c.var.principal.tenantId, c.req.param('id')))));
