import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildWorker {
  url: string;
  child: ChildProcess;
  /** SIGKILL: no graceful shutdown, caches gone. */
  kill(): Promise<void>;
}

/**
 * `npm run worker`'s entry point in its own process; resolves once the default model is loaded.
 * Node runs it with tsx as a loader (not the tsx CLI, which would put the worker in a grandchild
 * that a kill would orphan). `entry` may name a bundled worker instead (GPU machines).
 */
export function startChildWorker(env: Record<string, string>, entry?: string): Promise<ChildWorker> {
  const args = entry ? [entry] : ['--import', 'tsx', 'worker-gpu/src/main.ts'];
  const child = spawn(process.execPath, args, {
    cwd: process.cwd(),
    env: { ...process.env, ...env, WORKER_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let port = 0;
    child.stdout!.on('data', (d) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line);
        if (entry.msg === 'listening') port = entry.port;
        if (entry.msg === 'default model loaded' && port) {
          resolve({
            url: `http://127.0.0.1:${port}`,
            child,
            kill: async () => {
              child.kill('SIGKILL');
              await exited;
            },
          });
        }
      }
    });
    void exited.then(() => reject(new Error(`worker exited early:\n${out}\n${err}`)));
  });
}
