import { Hono, type MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { zValidator } from '@hono/zod-validator';
import { z, type ZodType } from 'zod';
import {
  GenerateRequestSchema,
  ModelRefSchema,
  StepRequestSchema,
  UPLOAD_BYTES_HEADER,
  UPLOAD_FILE_PATH,
  UPLOAD_SHA256_HEADER,
  USER_MODEL_NAME,
  ValidateUserModelRequestSchema,
  verifyWorkerToken,
  WorkerErrorCode,
  type GenerateEvent,
  type UserModelRef,
} from '../../../shared/protocol';
import { ndjsonStream } from '../../../shared/streams';
import type { Worker } from '../worker';
import { errorReply, forbidden, unauthorized, WorkerError } from './errors';

const MAX_BODY_BYTES = 8 * 2 ** 20;

/**
 * A JSON body must say so: without `Content-Type: application/json` Hono's validator reads no body,
 * and the reply would name the first field as missing. The media type is the one Hono reads
 * (application/json or application/<something>+json, parameters aside).
 */
const jsonContentType: MiddlewareHandler = async (c, next) => {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/([\w.-]+\+)?json$/.test(type.split(';')[0].trim().toLowerCase()))
    throw new WorkerError(
      415,
      WorkerErrorCode.invalidContentType,
      'content-type',
      `the body must be JSON sent with "Content-Type: application/json"${type ? ` (got "${type}")` : ' (none was sent)'}`,
    );
  await next();
};

/** A JSON body checked against `schema`; failures answer the protocol's error body naming the first bad field. */
const json = <T extends ZodType>(schema: T) => {
  const validator = zValidator('json', schema, (result, c) => {
    if (!result.success) {
      const { status, body } = errorReply(result.error);
      return c.json(body, status as 400);
    }
  });
  return every(jsonContentType, validator) as typeof validator;
};

type Vars = { Variables: { tenant: string } };

const UploadedVersionParams = z.object({
  name: z.string().regex(USER_MODEL_NAME, 'not a user model name'),
  version: z.coerce.number().int().min(1),
});
const UploadHeadersSchema = z.object({
  bytes: z.coerce
    .number({ message: `${UPLOAD_BYTES_HEADER} header: the file's size in bytes` })
    .int()
    .min(0),
  sha256: z
    .string({ message: `${UPLOAD_SHA256_HEADER} header: the file's sha256` })
    .regex(/^[0-9a-f]{64}$/, `${UPLOAD_SHA256_HEADER} header: 64 lowercase hex digits`),
});

/** A request's user model must belong to the tenant its token was signed for. */
function ownUserModel(user: UserModelRef | undefined, tenant: string): void {
  if (user && user.tenant !== tenant)
    throw forbidden('user.tenant', `this request was authorised for tenant ${tenant}, not ${user.tenant}`);
}

/**
 * The worker's HTTP surface: steps, fused generation, model info, user-model uploads, health and metrics. Everything
 * but /healthz and /readyz needs the edge's signed token (shared/protocol/worker-auth.ts); /metrics
 * also takes the read-only metrics token.
 */
export function createApp(worker: Worker): Hono<Vars> {
  const app = new Hono<Vars>();
  const { secrets, metricsToken } = worker.config.auth;
  const bearer = (header: string | undefined) => (header?.startsWith('Bearer ') ? header.slice(7).trim() : null);

  app.onError((err, c) => {
    let mapped = err;
    if (err instanceof HTTPException && err.status === 413)
      mapped = new WorkerError(413, WorkerErrorCode.bodyTooLarge, 'body', `request body exceeds ${MAX_BODY_BYTES} bytes`);
    else if (err instanceof HTTPException && err.status === 400)
      mapped = new WorkerError(400, WorkerErrorCode.invalidJson, 'body', err.message);
    const { status, body } = errorReply(mapped);
    worker.metrics.errors.inc({ code: body.error.code });
    if (status >= 500) worker.log.error('request failed', { path: c.req.path, error: (err as Error).stack ?? String(err) });
    if (status === 503) c.header('Retry-After', '1');
    if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="ssd2-worker"');
    return c.json(body, status as 400);
  });

  app.use('/v1/*', async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    if (!token) throw unauthorized('missing credential: the edge signs each request (Authorization: Bearer <token>)');
    const claims = await verifyWorkerToken(token, secrets);
    if (!claims) throw unauthorized('invalid or expired credential');
    c.set('tenant', claims.tenant);
    await next();
  });
  app.use('/metrics', async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    if (!token || !((metricsToken !== undefined && token === metricsToken) || (await verifyWorkerToken(token, secrets))))
      throw unauthorized('missing or invalid credential for /metrics');
    await next();
  });
  app.use('/v1/*', async (_c, next) => {
    if (worker.draining)
      throw new WorkerError(503, WorkerErrorCode.shuttingDown, null, 'this worker is shutting down; send the step to another');
    await next();
  });
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new HTTPException(413);
    },
  });
  // A file upload streams to S3 and is bounded by the size its manifest declares.
  app.use('/v1/*', (c, next) => (c.req.method === 'PUT' ? next() : limitBody(c, next)));

  app.post('/v1/step', json(StepRequestSchema), async (c) => {
    const end = worker.metrics.stepLatency.startTimer();
    const req = c.req.valid('json');
    ownUserModel(req.user, c.get('tenant'));
    const reply = await worker.steps.step(req);
    end();
    return c.json(reply);
  });

  app.post('/v1/generate', json(GenerateRequestSchema), async (c) => {
    const req = c.req.valid('json');
    ownUserModel(req.user, c.get('tenant'));
    const events = await worker.generations.start(req);
    // Headers are gone once it streams: an error becomes the stream's last line.
    const stream = ndjsonStream<GenerateEvent>(events, (err) => ({ type: 'error', ...errorReply(err).body }));
    return c.body(stream, 200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  });

  app.get('/v1/models/:name/:version', async (c) => {
    const ref = ModelRefSchema.parse(c.req.param());
    const model = await worker.models.core(ref);
    return c.json({ model: ref, info: model.denoiser.info, provider: model.denoiser.provider });
  });
  // The edge tokenizes prompts for models it does not bundle (SERVED_MODELS) with this file.
  app.get('/v1/models/:name/:version/tokenizer.json', async (c) => {
    const { bundle } = await worker.models.core(ModelRefSchema.parse(c.req.param()));
    return c.body(bundle.files.get(bundle.manifest.tokenizer)! as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/json' });
  });

  // User-model uploads (the edge keeps the registry; engine/user-model-uploads.ts). The tenant is the token's.
  const version = (c: { req: { param(): Record<string, string> } }) => {
    const { name, version } = UploadedVersionParams.parse(c.req.param());
    return { name, version };
  };
  app.put('/v1/user-models/:name/:version/files/:path{.+}', async (c) => {
    const path = c.req.param('path');
    if (!UPLOAD_FILE_PATH.test(path) || path === 'manifest.json')
      throw new WorkerError(400, WorkerErrorCode.invalidArgument, 'path', `"${path}" is not a bundle file path`);
    const expected = UploadHeadersSchema.parse({ bytes: c.req.header(UPLOAD_BYTES_HEADER), sha256: c.req.header(UPLOAD_SHA256_HEADER) });
    const body = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
    return c.json(await worker.uploads.put({ tenant: c.get('tenant'), ...version(c) }, path, body, expected));
  });
  app.post('/v1/user-models/:name/:version/validate', json(ValidateUserModelRequestSchema), async (c) => {
    const v = { tenant: c.get('tenant'), ...version(c) };
    const reply = await worker.uploads.validate(v, c.req.valid('json'));
    worker.log.info('user model validated', {
      ...v,
      status: reply.status,
      ...(reply.status === 'failed' ? { reason: reply.error.message } : {}),
    });
    return c.json(reply);
  });
  app.delete('/v1/user-models/:name/:version', async (c) =>
    c.json({ deleted: await worker.uploads.remove({ tenant: c.get('tenant'), ...version(c) }) }),
  );

  app.get('/healthz', (c) => c.json(worker.health()));
  app.get('/readyz', (c) => {
    const ready = worker.ready();
    return c.json({ ready, defaultModel: worker.config.defaultModel ?? null }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) =>
    c.text(await worker.metrics.registry.metrics(), 200, { 'content-type': worker.metrics.registry.contentType }),
  );
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}`, field: null } }, 404));
  return app;
}
