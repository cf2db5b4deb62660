import { Hono } from 'hono';
import type { AppEnv } from '../../env';
import { requireScope } from '../../auth';
import { ApiError, notFound } from '../../errors/api-error';
import { generationStub } from './run-generation';

const noSuchGeneration = (id: string) => notFound('generation_id', `no generation ${id}`, 'generation_not_found');

/**
 * Generations as objects: create one for a client model to join, join it over a WebSocket, read
 * its status, cancel it. Each answers only to the tenant that created it; for anyone else the
 * generation does not exist (404), so ids cannot be probed.
 */
export const generations = new Hono<AppEnv>()
  .post('/', requireScope('generate'), async (c) => {
    const id = c.env.GENERATIONS.newUniqueId();
    await c.env.GENERATIONS.get(id).reserve(c.var.principal.tenantId, c.var.principal.keyId);
    const url = new URL(c.req.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `/v1/generations/${id}/client`;
    return c.json({ id: id.toString(), object: 'generation', websocket_url: url.toString() }, 201);
  })
  .get('/:id/client', requireScope('generate'), async (c) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket')
      throw new ApiError(400, 'invalid_request_error', 'websocket_expected', 'connect with a WebSocket upgrade');
    const stub = generationStub(c.env, c.req.param('id'));
    const headers = new Headers(c.req.raw.headers);
    headers.set('x-ssd2-tenant', c.var.principal.tenantId);
    return stub.fetch('https://generation/client', { headers });
  })
  .get('/:id', requireScope('generations'), async (c) => {
    const status = await generationStub(c.env, c.req.param('id')).status(c.var.principal.tenantId);
    if (!status) throw noSuchGeneration(c.req.param('id'));
    return c.json({ object: 'generation', ...status });
  })
  .delete('/:id', requireScope('generations'), async (c) => {
    const phase = await generationStub(c.env, c.req.param('id')).cancel(c.var.principal.tenantId);
    if (!phase) throw noSuchGeneration(c.req.param('id'));
    if (phase === 'done' || phase === 'failed' || phase === 'cancelled')
      throw new ApiError(409, 'invalid_request_error', 'generation_ended', `the generation has already ended (${phase})`, 'generation_id');
    return c.json({ id: c.req.param('id'), object: 'generation', cancelled: true });
  });
