import { newId } from './auth/keys';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { BUNDLE_FORMAT_VERSION } from '../../shared/bundle/manifest';
import { admin } from './admin';
import { batches } from './batch/batches-routes';
import { files } from './batch/files-routes';
import { apiKeyAuth } from './auth';
import type { AppEnv } from './env';
import { ApiError } from './errors/api-error';
import { toApiError } from './errors/to-api-error';
import { meter } from './metering';
import { rateLimit } from './rate-limit';
import { chatCompletions } from './routes/v1/chat-completions';
import { completions } from './routes/v1/completions';
import { generations } from './routes/v1/generations';
import { models } from './routes/v1/models';
import { playground } from './routes/playground';
import { usage } from './routes/v1/usage';
import { userModels } from './user-models/routes';

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The edge API: OpenAI-compatible /v1 (completions, chat, batches, files, user models, usage)
 * behind key auth and per-key rate limits; /admin behind ADMIN_SECRET.
 */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    const apiError = toApiError(err);
    const body = apiError.toBody();
    if (apiError.status >= 500) {
      // The details stay in the log, under the id the caller gets back.
      const requestId = c.var.meter?.requestId ?? newId('req');
      c.header('x-request-id', requestId);
      body.error.request_id = requestId;
      console.error('request failed', requestId, c.req.method, c.req.path, (err as Error)?.stack ?? err);
    }
    for (const [name, value] of Object.entries(apiError.headers)) c.header(name, value);
    return c.json(body, apiError.status);
  });
  app.notFound((c) =>
    c.json(new ApiError(404, 'not_found_error', 'unknown_route', `no route ${c.req.method} ${c.req.path}`).toBody(), 404),
  );

  app.get('/healthz', (c) => c.json({ ok: true, service: 'ssd2-edge', bundle_format_version: BUNDLE_FORMAT_VERSION }));

  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new HTTPException(413, { message: `request body exceeds ${MAX_BODY_BYTES} bytes` });
    },
  });
  // Browsers may call the API from any origin (a preflight is answered before authentication): it
  // authenticates by bearer key, never by cookie, so no origin can act for a user without the key.
  app.use(
    '/v1/*',
    cors({
      origin: '*',
      exposeHeaders: [
        'x-ssd2-generation-id',
        'x-ssd2-cost-usd',
        'x-ssd2-budget-key-remaining-usd',
        'x-ssd2-budget-tenant-remaining-usd',
        'x-ratelimit-limit-requests',
        'x-ratelimit-remaining-requests',
        'retry-after',
        'x-request-id',
        'idempotent-replayed',
        'x-original-request-id',
      ],
      maxAge: 86_400,
    }),
  );
  // File uploads have their own, larger limits (batch/files-routes.ts, user-models/upload-check.ts).
  // Generation calls are metered from the first middleware on, so refusals (401, 403, 429, 413) write their usage record too.
  app.use('/v1/completions', meter('completion'));
  app.use('/v1/chat/completions', meter('chat'));
  const ownLimit = (c: { req: { path: string; method: string } }) =>
    c.req.path === '/v1/files' || (c.req.method === 'PUT' && c.req.path.startsWith('/v1/user_models/'));
  app.use('/v1/*', (c, next) => (ownLimit(c) ? next() : limitBody(c, next)), apiKeyAuth(), rateLimit());
  app.route('/v1/completions', completions);
  app.route('/v1/chat/completions', chatCompletions);
  for (const path of ['/v1/completions', '/v1/chat/completions'])
    app.all(path, (c) => {
      throw new ApiError(405, 'invalid_request_error', 'method_not_allowed', `${c.req.method} ${path}: this route takes POST`).withHeader(
        'allow',
        'POST',
      );
    });
  app.route('/v1/models', models);
  app.route('/v1/generations', generations);
  app.route('/v1/usage', usage);
  app.route('/v1/files', files);
  app.route('/v1/batches', batches);
  app.route('/v1/user_models', userModels);

  app.use('/admin/*', limitBody);
  app.route('/admin', admin);
  // A built playground is a static asset and never gets here (docs/playground.md).
  app.route('/playground', playground);
  return app;
}
