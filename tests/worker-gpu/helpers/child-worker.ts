import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildWorker {
  url: string;
  child: ChildProcess;
  /** SIGKILL: no graceful shutdown, caches gone. */
  kill(): Promise<void>;
}

/** A worker process and what it has written so far. */
export interface SpawnedWorker {
  child: ChildProcess;
  /** Its JSON log lines (stdout), in order. */
  logs: Record<string, any>[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the first log line `match` accepts (rejects when the process exits first). */
  waitForLog(match: (line: Record<string, any>) => boolean): Promise<Record<string, any>>;
  /** The exit code (or signal name). */
  exited: Promise<number | string>;
}

/**
 * `npm run worker`'s entry point in its own process. Node runs it with tsx as a loader (not the tsx
 * CLI, which would put the worker in a grandchild that a kill would orphan). `entry` may name a
 * bundled worker instead (GPU machines).
 */
export function spawnWorker(env: Record<string, string>, entry?: string): SpawnedWorker {
  const args = entry ? [entry] : ['--import', 'tsx', 'worker-gpu/src/main.ts'];
  const child = spawn(process.execPath, args, {
    cwd: process.cwd(),
    env: { ...process.env, ...env, WORKER_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const logs: Record<string, any>[] = [];
  const waiters = new Set<() => void>();
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.on('data', (d) => {
    const start = out.lastIndexOf('\n') + 1;
    out += d;
    const complete = out.slice(start, out.lastIndexOf('\n') + 1);
    for (const line of complete.split('\n')) if (line.startsWith('{')) logs.push(JSON.parse(line));
    for (const wake of waiters) wake();
  });
  const waitForLog = (match: (line: Record<string, any>) => boolean) =>
    new Promise<Record<string, any>>((resolve, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (found) {
          waiters.delete(check);
          resolve(found);
        }
      };
      waiters.add(check);
      check();
      void exited.then(() => {
        waiters.delete(check);
        reject(new Error(`worker exited early:\n${out}\n${err}`));
      });
    });
  return { child, logs, stdout: () => out, stderr: () => err, waitForLog, exited };
}

/** A worker process; resolves once the default model is loaded. */
export async function startChildWorker(env: Record<string, string>, entry?: string): Promise<ChildWorker> {
  const worker = spawnWorker(env, entry);
  const { port } = await worker.waitForLog((l) => l.msg === 'listening');
  await worker.waitForLog((l) => l.msg === 'default model loaded');
  return {
    url: `http://127.0.0.1:${port}`,
    child: worker.child,
    kill: async () => {
      worker.child.kill('SIGKILL');
      await worker.exited;
    },
  };
}
