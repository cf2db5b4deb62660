import { createServer } from 'node:net';

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export class PortBusyError extends Error {
  override name = 'PortBusyError';
  constructor(
    readonly port: number,
    readonly what: string,
    hint: string,
  ) {
    super(
      `port ${port} (${what}) is already in use on 127.0.0.1: stop whatever listens there (\`ss -ltnp 'sport = :${port}'\` shows it) or ` +
        `${hint}`,
    );
  }
}

/** Throws PortBusyError when `port` cannot be bound on 127.0.0.1 right now. */
export function assertPortFree(port: number, what: string, hint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' || err.code === 'EACCES' ? new PortBusyError(port, what, hint) : err),
    );
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}

/** `port`, or a free one when it is 0. */
export async function portOrFree(port: number): Promise<number> {
  return port === 0 ? freePort() : port;
}
