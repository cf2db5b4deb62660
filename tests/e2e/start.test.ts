/**
 * `npm start` as a user runs it: the script in its own process group (as a terminal runs it), two
 * GPU workers, any free ports, a per-run state directory. Waits for the "ready" line, then talks
 * HTTP to what it printed (the URL and the key): /healthz, a completion, an SSE stream, a burst
 * of concurrent requests, a GPU worker SIGKILLed mid-generation (the edge moves to the other one);
 * then Ctrl-C (SIGINT to the group) and every process it started must be gone.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sseData } from '../../client/sdk';
import { CACHE, ROOT } from '../helpers/paths';

interface Printed {
  edgeUrl: string;
  apiKey: string;
  workers: { url: string; pid: number }[];
  metricsToken: string;
}

let npm: ChildProcess;
let output = '';
let printed: Printed;
/** Every descendant of `npm start` once it is ready (npm, sh, tsx, node, the workers, wrangler, workerd). */
let tree: number[] = [];
let stateDir: string;
const exited = () => npm.exitCode !== null || npm.signalCode !== null;

function descendants(root: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const found = [root];
  for (let i = 0; i < found.length; i++) for (const [pid, ppid] of rows) if (ppid === found[i]) found.push(pid);
  return found;
}

function alive(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
}

async function until<T>(what: string, get: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  mkdirSync(CACHE, { recursive: true });
  stateDir = mkdtempSync(join(CACHE, 'npm-start-'));
  npm = spawn(
    'npm',
    ['start', '--', '--no-demo', '--workers', '2', '--port', '0', '--worker-port', '0', '--s3-port', '0', '--state-dir', stateDir],
    { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (d: Buffer) => (output += d.toString());
  npm.stdout!.on('data', keep);
  npm.stderr!.on('data', keep);
  await until(
    'the "ready" line',
    () => {
      if (exited()) throw new Error(`npm start exited (${npm.exitCode ?? npm.signalCode})\n${output}`);
      return /^ready in .*$/m.test(output) || undefined;
    },
    150_000,
  );
  printed = {
    edgeUrl: /^edge\s+(http:\S+)/m.exec(output)![1],
    apiKey: /^api key\s+(sk-ssd2-\S+)/m.exec(output)![1],
    workers: [...output.matchAll(/^worker\s+(http:\S+)\s+pid (\d+)/gm)].map((m) => ({ url: m[1], pid: Number(m[2]) })),
    metricsToken: /^metrics\s+token (\S+)/m.exec(output)![1],
  };
  tree = descendants(npm.pid!);
}, 180_000);

afterAll(async () => {
  // Only when a test failed before the Ctrl-C test: stop it the same way, then make sure.
  if (npm && !exited()) {
    try {
      process.kill(-npm.pid!, 'SIGINT');
    } catch {
      /* gone */
    }
    await new Promise((r) => setTimeout(r, 10_000));
  }
  for (const pid of alive(tree)) process.kill(pid, 'SIGKILL');
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 30_000);

const post = (path: string, body: unknown) =>
  fetch(`${printed.edgeUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${printed.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const BODY = { model: 'tiny-core', prompt: 'The cat sat on the', max_tokens: 20, steps: 20, seed: 11 };

/** Reads an SSE completion stream; `onChunk` sees every parsed chunk as it arrives. */
async function sse(res: Response, onChunk: (c: any) => void = () => {}): Promise<{ text: string; done: boolean; error?: unknown }> {
  let text = '';
  for await (const data of sseData(res.body!)) {
    if (data === '[DONE]') return { text, done: true };
    const chunk = JSON.parse(data);
    if (chunk.error) return { text, done: false, error: chunk.error };
    onChunk(chunk);
    text += chunk.choices?.[0]?.text ?? '';
  }
  return { text, done: false };
}

async function stepsServed(workerUrl: string): Promise<number> {
  const text = await (await fetch(`${workerUrl}/metrics`, { headers: { authorization: `Bearer ${printed.metricsToken}` } })).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('ssd2_worker_steps_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe('npm start (the local stack in one command)', () => {
  it('prints the edge URL, a development API key and a curl command; starts two GPU workers', () => {
    expect(printed.edgeUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed.apiKey).toMatch(/^sk-ssd2-/);
    expect(printed.workers).toHaveLength(2);
    expect(output).toContain(`curl -N ${printed.edgeUrl}/v1/completions -H 'Authorization: Bearer ${printed.apiKey}'`);
    expect(output).toContain('serving (--no-demo)');
    expect(tree.length).toBeGreaterThan(6);
  });

  it('answers /healthz and a completion with the printed key', async () => {
    const health = await fetch(`${printed.edgeUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, service: 'ssd2-edge' });
    const res = await post('/v1/completions', BODY);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { text: string; finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(body.choices[0].text.length).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    const stream = await sse(await post('/v1/completions', { ...BODY, stream: true }));
    expect(stream).toMatchObject({ done: true, text: body.choices[0].text });
  });

  it('serves a burst of concurrent requests (same seed, same text)', async () => {
    const seeds = [1, 2, 3, 4, 1, 2];
    const replies = await Promise.all(
      seeds.map(async (seed) => {
        const res = await post('/v1/completions', { ...BODY, seed });
        expect(res.status).toBe(200);
        return ((await res.json()) as { choices: { text: string }[] }).choices[0].text;
      }),
    );
    expect(replies[4]).toBe(replies[0]);
    expect(replies[5]).toBe(replies[1]);
    for (const r of replies) expect(r.length).toBeGreaterThan(0);
  });

  it('finishes a per-step generation when its GPU worker is killed mid-way (same text, on the other worker)', async () => {
    const request = { ...BODY, max_tokens: 50, steps: 60, early_stop: 0, mode: 'per_step', seed: 99, stream: true };
    const reference = await sse(await post('/v1/completions', request));
    expect(reference.done).toBe(true);

    const before = await Promise.all(printed.workers.map((w) => stepsServed(w.url)));
    let killed: number | undefined;
    let progressAfterKill = 0;
    const res = await post('/v1/completions', { ...request, progress: true });
    expect(res.status).toBe(200);
    const run = await sse(res, (chunk) => {
      if (!chunk.ssd2?.progress) return;
      if (killed !== undefined) progressAfterKill++;
      else if (chunk.ssd2.progress.step >= 3) {
        // The worker serving this generation is the one whose step count moved; kill it without warning.
        killed = -1;
        void Promise.all(printed.workers.map((w) => stepsServed(w.url))).then((now) => {
          const serving = now[0] - before[0] >= now[1] - before[1] ? 0 : 1;
          killed = serving;
          process.kill(printed.workers[serving].pid, 'SIGKILL');
        });
      }
    });
    expect(killed).toBeGreaterThanOrEqual(0);
    expect(progressAfterKill).toBeGreaterThan(0);
    expect(run.error).toBeUndefined();
    expect(run).toMatchObject({ done: true, text: reference.text });
    // The pool keeps answering with one worker left.
    expect((await post('/v1/completions', BODY)).status).toBe(200);
  });

  it('stops every process it started on Ctrl-C (SIGINT to its process group)', async () => {
    expect(alive(tree).length).toBeGreaterThan(0);
    process.kill(-npm.pid!, 'SIGINT');
    await until('npm start to exit', () => (exited() ? true : undefined), 30_000);
    const left = await until(
      'every process of the stack to end',
      () => {
        const a = alive(tree);
        return a.length === 0 ? a : undefined;
      },
      20_000,
    ).catch(() => alive(tree));
    const leftover = left.length ? execFileSync('ps', ['-o', 'pid,args', '-p', left.join(',')], { encoding: 'utf8' }) : '';
    expect(leftover).toBe('');
    expect(output).toContain('stopped');
    await expect(fetch(`${printed.edgeUrl}/healthz`)).rejects.toThrow();
  });
});
