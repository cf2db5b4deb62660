import { createApp } from './app';

export { Generation } from './generation/generation-do';
export { RateLimiter } from './rate-limit/rate-limiter';

/** The edge Worker: see docs/edge.md. */
export default createApp();
