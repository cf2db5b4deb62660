import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface GroupProcess {
  /** What it is, for messages ("GPU worker 1", "wrangler dev"). */
  name: string;
  child: ChildProcess;
  /** stdout + stderr so far (the last 64 kB). */
  output(): string;
  exited: Promise<number | null>;
  /** SIGKILLs the whole process group (tsx and wrangler start children of their own); waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM to the group, up to `graceMs` for the leader to exit, then SIGKILL to whatever is left of the group. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the group, synchronously (for process 'exit' handlers). */
  killSync(): void;
}

/** Starts a command as the leader of a new process group (setsid), so that killing the group takes every descendant along. */
export function spawnGroup(name: string, command: string, args: string[], opts: SpawnOptions = {}): GroupProcess {
  const child = spawn(command, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-65_536);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      keep(Buffer.from(`${name}: could not start ${command}: ${err.message}\n`));
      resolve(null);
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* the group is already gone */
    }
  };
  const waitExit = (ms: number) => Promise.race([exited, new Promise((r) => setTimeout(r, ms).unref())]);
  return {
    name,
    child,
    output: () => out,
    exited,
    killSync: () => signalGroup('SIGKILL'),
    async kill() {
      signalGroup('SIGKILL');
      await waitExit(5_000);
    },
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup('SIGTERM');
        await waitExit(graceMs);
      }
      // The leader may be gone while a grandchild (workerd) lingers in its group.
      signalGroup('SIGKILL');
      await waitExit(5_000);
    },
  };
}

/** Polls until `check` resolves true; throws (with `describe()`) after `timeoutMs` or when `dead()` says the process exited. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
  dead: () => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead()) throw new Error(`${what}: the process exited\n${describe()}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms\n${describe()}`);
}
