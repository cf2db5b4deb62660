import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface GroupProcess {
  child: ChildProcess;
  /** stdout + stderr so far (the last 64 kB). */
  output(): string;
  exited: Promise<number | null>;
  /** SIGKILLs the whole process group (tsx and wrangler start children of their own); waits for the exit. */
  kill(): Promise<void>;
}

/** Starts a command as the leader of a new process group (setsid), so that killing it takes every descendant along. */
export function spawnGroup(command: string, args: string[], opts: SpawnOptions = {}): GroupProcess {
  const child = spawn(command, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-65_536);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  return {
    child,
    output: () => out,
    exited,
    async kill() {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* the group is already gone */
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    },
  };
}

/** Polls until `check` resolves true; throws (with `describe()`) after `timeoutMs` or when `dead()` says the process exited. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, describe: () => string, dead: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead()) throw new Error(`${what}: the process exited\n${describe()}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms\n${describe()}`);
}
