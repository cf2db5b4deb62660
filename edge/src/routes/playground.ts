import { Hono } from 'hono';
import type { AppEnv } from '../env';

/**
 * The playground page is a Workers static asset (wrangler.toml [assets], docs/playground.md): a
 * built page is served before the Worker runs, so a request that reaches this route means the page
 * was not built. Say how to build it instead of an API 404.
 */
export const playground = new Hono<AppEnv>();

playground.get('*', (c, next) => {
  // Only the page itself; a missing file under it is an ordinary 404.
  if (!/^\/playground\/?(index\.html)?$/.test(c.req.path)) return next();
  return c.html(
    '<!doctype html><meta charset="utf-8"><title>SSD-2 playground: not built</title>' +
      '<p>The playground is not built. Run <code>npm run build:playground</code> (<code>npm start</code> does it for you), then ' +
      'reload.</p>',
    503,
  );
});
