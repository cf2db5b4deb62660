/** `npm run worker`: configuration from the environment (see docs/worker.md), then serve until SIGTERM/SIGINT. */
import { ConfigError, loadConfig } from './config';
import { type RunningWorker, startWorker } from './server';

/** A configuration the worker cannot start with (a bad variable, a port in use): one JSON line naming the variable, exit 2. */
function refuse(err: unknown): never {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${JSON.stringify({ level: 'error', msg: err.message, variable: err.variable })}\n`);
  process.exit(2);
}

let running: RunningWorker;
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
  running = await startWorker(config);
} catch (err) {
  refuse(err);
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    running.worker.log.info('shutting down: refusing new requests, finishing those in flight', { signal, drainMs: config.drainMs });
    // The drain ends the streams still running at its deadline; this is the backstop.
    const force = setTimeout(() => process.exit(1), config.drainMs + 5000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      (err) => {
        running.worker.log.error('shutdown failed', { error: (err as Error).message });
        process.exit(1);
      },
    );
  });
}
