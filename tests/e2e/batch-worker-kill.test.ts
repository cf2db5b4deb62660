/**
 * Issue 6, "killing the GPU worker during a batch delays it but loses and duplicates nothing", for
 * real: s3rver → one GPU worker process → `wrangler dev` (workerd, local D1, R2 and Queues). A
 * 40-line batch (2 lines malformed) starts; once some lines are done the worker's whole process
 * group gets SIGKILL, stays down for a while, and is started again on the same port. The queue
 * consumer's lines fail against the dead worker (connection refused, or a fused stream cut
 * mid-generation), are retried with backoff, and the batch completes with exactly one output or
 * error line per input line and a ledger of one usage row per line.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStack, readBundle } from '../../tools/stack';
import { WRANGLER_ENV } from '../../tools/stack/edge';
import { bin } from '../../tools/stack/paths';
import { CACHE, ROOT } from '../helpers/paths';
import { BatchClient, outcomesPerLine, type ErrorLine, type OutputLine } from './helpers/batch-client';

const LINES = 40;
const MALFORMED = new Map([
  [11, 'bad JSON'],
  [29, 'missing body'],
]);
// Long enough lines (2 blocks x 20 steps) that the batch is still running when the worker dies.
const body = (i: number) => ({
  model: 'tiny-core',
  prompt: `Line ${i}: the cat sat on the`,
  max_tokens: 40,
  steps: 20,
  early_stop: 0,
  seed: 5000 + i,
});

let stack: LocalStack;
let stateDir: string;

beforeAll(async () => {
  mkdirSync(CACHE, { recursive: true });
  stateDir = mkdtempSync(join(CACHE, 'stack-kill-'));
  const model = readBundle(join(ROOT, 'models/tiny-core'));
  stack = new LocalStack({
    stateDir,
    bundles: [model],
    defaultModel: model,
    ports: { edge: 0, s3: 0, workers: [0] },
    workerEnv: { SSD2_PROVIDERS: 'cpu' },
    // 6 deliveries (wrangler.toml's max_retries 5 + 1), retried after 2, 4, 8, 16, 32 s: about a minute of downtime is ridden out.
    edgeVars: { DEFAULT_RATE_LIMIT_PER_MINUTE: '100000', BATCH_CONCURRENCY: '4', BATCH_MAX_ATTEMPTS: '6', BATCH_RETRY_BASE_SECONDS: '2' },
    readyTimeoutMs: 180_000,
    frozenEdge: true, // others edit this tree: a source edit would reload wrangler dev mid-batch
  });
  await stack.start();
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

/** Reads the edge's local D1 with wrangler itself (the same SQLite the running `wrangler dev` writes). */
async function d1<T>(sql: string): Promise<T[]> {
  const { stdout } = await promisify(execFile)(
    bin('wrangler'),
    ['d1', 'execute', 'ssd2-edge', '--local', '--persist-to', join(stateDir, 'wrangler'), '--json', '--command', sql],
    { cwd: ROOT, env: WRANGLER_ENV, timeout: 60_000 },
  );
  return (JSON.parse(stdout) as { results: T[] }[])[0].results;
}

async function stepsServed(workerUrl: string): Promise<number> {
  const text = await (await fetch(`${workerUrl}/metrics`, { headers: { authorization: `Bearer ${stack.metricsToken}` } })).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('ssd2_worker_steps_total'))
    .reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
}

describe('a batch survives losing its GPU worker (wrangler dev + a real worker process)', () => {
  it('kills the worker mid-batch, restarts it, and the batch completes with one outcome per line, nothing lost or duplicated', async () => {
    const client = new BatchClient(stack.edgeUrl, await stack.newKey('kill-tenant'));
    const ids = Array.from({ length: LINES }, (_, i) => `kill-${i}`);
    const text =
      ids
        .map((custom_id, i) => {
          if (MALFORMED.get(i) === 'bad JSON') return `{"custom_id": "${custom_id}", "method": "POST",`;
          if (MALFORMED.get(i) === 'missing body') return JSON.stringify({ custom_id, method: 'POST', url: '/v1/completions' });
          return JSON.stringify({ custom_id, method: 'POST', url: '/v1/completions', body: body(i) });
        })
        .join('\n') + '\n';
    const created = await client.create(await client.upload(text));
    expect(created.request_counts).toMatchObject({ total: LINES, failed: 2 });

    // Some lines done, most still to run: kill the worker (SIGKILL to its process group).
    const old = stack.workers[0];
    let atKill = await client.get(created.id);
    for (const deadline = Date.now() + 120_000; atKill.request_counts.completed < 3; atKill = await client.get(created.id)) {
      if (Date.now() > deadline) throw new Error(`no line finished within 120 s: ${JSON.stringify(atKill)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await old.kill();
    expect(old.child.exitCode !== null || old.child.signalCode !== null).toBe(true);
    const stillToRun = LINES - atKill.request_counts.completed - atKill.request_counts.failed;
    expect(stillToRun).toBeGreaterThan(LINES / 2); // the kill lands early in the batch

    // Down for a while: lines the consumer takes now fail (connection refused) and go back to the queue.
    await new Promise((r) => setTimeout(r, 4_000));
    const whileDown = await client.get(created.id);
    expect(whileDown.status).toBe('in_progress');
    const restarted = await stack.restartWorker(0);
    expect(restarted.child.pid).not.toBe(old.child.pid);

    const finished = await client.wait(created.id, 300_000, 500);
    expect(finished.status).toBe('completed');
    expect(finished.request_counts).toEqual({ total: LINES, completed: LINES - 2, failed: 2 });

    // Exactly one outcome per input line; the valid lines all produced output (nothing lost to the outage).
    const out = await client.lines<OutputLine>(finished.output_file_id);
    const errs = await client.lines<ErrorLine>(finished.error_file_id);
    expect(outcomesPerLine(ids, out, errs)).toEqual({ missing: [], duplicated: [], unknown: [] });
    expect(out).toHaveLength(LINES - 2);
    expect(errs.map((e) => [e.error.line, e.error.code]).sort()).toEqual([
      [11, 'invalid_json'],
      [29, 'invalid_line'],
    ]);
    for (const o of out) expect(o.response.status_code).toBe(200);

    // The restarted worker did the rest of the batch, and lines really failed and were retried meanwhile.
    expect(await stepsServed(restarted.url)).toBeGreaterThan(0);
    const [retries] = await d1<{ retried_lines: number; retries: number }>(
      `SELECT COUNT(*) FILTER (WHERE attempts > 0) AS retried_lines, COALESCE(SUM(attempts), 0) AS retries FROM batch_lines WHERE ` +
        `batch_id = '${created.id}'`,
    );
    expect(retries.retried_lines).toBeGreaterThan(0);

    // Ledger: one usage row per input line, charged once per output line.
    const usage = await d1<{ n: number; ok: number; ids: number }>(
      `SELECT COUNT(*) AS n, SUM(status = 'ok') AS ok, COUNT(DISTINCT custom_id) AS ids FROM usage WHERE batch_id = '${created.id}'`,
    );
    expect(usage[0]).toEqual({ n: LINES, ok: LINES - 2, ids: LINES - 1 }); // the bad-JSON line has no custom_id
    const total = await client.usageTotal();
    expect(total).toMatchObject({
      calls: LINES,
      ok: LINES - 2,
      failed: 2,
      completion_tokens: out.reduce((s, o) => s + o.response.body.usage.completion_tokens, 0),
    });
    console.log(
      `worker killed with ${atKill.request_counts.completed} of ${LINES - 2} lines done; ${retries.retried_lines} lines retried ` +
        `(${retries.retries} retries); completed`,
    );
  }, 420_000);
});
