import { Hono } from 'hono';
import { BUNDLE_FORMAT_VERSION } from '../../shared/bundle/manifest';

/**
 * The edge API (Hono on Workers). Issue 2 ships the skeleton; auth, policy, the OpenAI-compatible
 * routes and the per-generation Durable Object arrive with the edge issue.
 */
const app = new Hono();

app.get('/healthz', (c) => c.json({ ok: true, service: 'ssd2-edge', bundle_format_version: BUNDLE_FORMAT_VERSION }));

export default app;
