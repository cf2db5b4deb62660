/** `npm run worker`: configuration from the environment (see docs/worker.md), then serve until SIGTERM/SIGINT. */
import { ConfigError, loadConfig } from './config';
import { startWorker } from './server';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${JSON.stringify({ level: 'error', msg: err.message, variable: err.variable })}\n`);
  process.exit(2);
}
const running = await startWorker(config);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    running.worker.log.info('shutting down: finishing in-flight steps', { signal });
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
