/**
 * npm run bench:batch — a burst of batch work on the local stack, for real: s3rver → GPU worker
 * process (tiny-core from S3, CPU) → `wrangler dev` (workerd, local D1, R2 and Queues). Uploads an
 * N-line JSONL file (5 % malformed: bad JSON, no body, a wrong url, fields of the wrong type),
 * creates a batch, polls its progress and the queue depth, then checks the acceptance case of
 * issue 6: N·0.95 output lines + N·0.05 error lines, every custom_id exactly once, and the usage
 * ledger (GET /v1/usage) equal to the sum of the lines' own usage. Reports lines/s, time to drain,
 * the worker's batch sizes (its /metrics histogram) and the queue depth peak; writes
 * bench/results/batch.md (+ .json). Exits 1 when a check fails. Not a test: the timings depend on
 * the machine and on what else runs on it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseCli } from '../tools/cli/args';
import { costMicroUsd, PriceTableSchema } from '../edge/src/billing/prices';
import { BatchClient, outcomesPerLine, type BatchObject, type ErrorLine, type OutputLine } from '../tests/e2e/helpers/batch-client';
import { LocalStack, readBundle, ROOT } from '../tools/stack';
import { writeReport, type Row } from './lib/table';

const { values } = parseCli({
  usage: 'npm run bench:batch [-- options]',
  flags: {
    lines: { type: 'int', min: 1, default: 1000, help: 'input lines (5 % of them, rounded, are malformed)' },
    'max-tokens': { type: 'int', min: 1, default: 8, help: 'max_tokens per line' },
    steps: { type: 'int', min: 1, default: 5, help: 'denoising steps per block' },
    concurrency: { type: 'int', min: 1, default: 16, help: 'BATCH_CONCURRENCY: lines one queue delivery runs at once' },
    window: { type: 'int', arg: 'MS', min: 0, default: 2, help: 'WORKER_BATCH_WINDOW_MS of the GPU worker' },
    'timeout-s': { type: 'int', min: 1, default: 1800, help: 'give up waiting for the batch after N seconds' },
    'stall-s': { type: 'int', min: 1, default: 180, help: 'give up when no line was recorded for N seconds' },
    out: { type: 'string', arg: 'PATH', default: 'bench/results/batch.md', help: 'report path (.json beside it)' },
  },
});
const N = values.lines;
const MAX_TOKENS = values['max-tokens'];
const STEPS = values.steps;
const CONCURRENCY = values.concurrency;
const TIMEOUT_MS = values['timeout-s'] * 1000;
const WINDOW = String(values.window);
const MALFORMED = Math.round(N * 0.05);
/** No line recorded for this long = stalled: give up with the processes' output. */
const STALL_MS = values['stall-s'] * 1000;

// The price table the edge runs with (passed as its PRICES var), so the ledger can be recomputed here.
const PRICES = { default: { per_call_usd: 0.0001, per_1k_tokens_usd: 0.002, per_step_usd: 0.000001 }, batch_multiplier: 0.5 };
const priceTable = PriceTableSchema.parse(PRICES);

const PROMPTS = ['The cat sat on the', 'Define the word river.', 'Once upon a time', 'The weather today is', 'A short note about bread:'];
const MALFORMED_KINDS = ['bad JSON', 'missing body', 'wrong url', 'invalid field type'] as const;

/** The input file: line i has custom_id ids[i]; malformed lines are spread evenly and cycle through the four kinds. */
function inputFile(): { text: string; ids: string[]; malformed: Map<number, (typeof MALFORMED_KINDS)[number]> } {
  const ids = Array.from({ length: N }, (_, i) => `line-${String(i).padStart(5, '0')}`);
  const malformed = new Map<number, (typeof MALFORMED_KINDS)[number]>();
  for (let k = 0; k < MALFORMED; k++) malformed.set(Math.floor(((k + 0.5) * N) / MALFORMED), MALFORMED_KINDS[k % MALFORMED_KINDS.length]);
  const lines = ids.map((custom_id, i) => {
    const body = { model: 'tiny-core', prompt: PROMPTS[i % PROMPTS.length], max_tokens: MAX_TOKENS, steps: STEPS, seed: 1000 + i };
    switch (malformed.get(i)) {
      case 'bad JSON':
        return `{"custom_id": "${custom_id}", "method": "POST", "url": "/v1/completions", "body": {"model": "tiny-core"`;
      case 'missing body':
        return JSON.stringify({ custom_id, method: 'POST', url: '/v1/completions' });
      case 'wrong url':
        return JSON.stringify({ custom_id, method: 'POST', url: i % 2 ? '/v1/embeddings' : '/v1/chat/completions', body });
      case 'invalid field type':
        return JSON.stringify({
          custom_id,
          method: 'POST',
          url: '/v1/completions',
          body: i % 2 ? { ...body, max_tokens: 'eight' } : { ...body, steps: [5] },
        });
      default:
        return JSON.stringify({ custom_id, method: 'POST', url: '/v1/completions', body });
    }
  });
  return { text: lines.join('\n') + '\n', ids, malformed };
}

/** The worker's ssd2_worker_batch_size histogram: cumulative counts per `le`, sum and count. */
async function batchHistogram(
  workerUrl: string,
  metricsToken: string,
): Promise<{ buckets: Map<string, number>; sum: number; count: number }> {
  const text = await (await fetch(`${workerUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
  const buckets = new Map<string, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const b = line.match(/^ssd2_worker_batch_size_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\} ([\d.e+]+)$/);
    if (b) buckets.set(b[1], (buckets.get(b[1]) ?? 0) + Number(b[2]));
    const s = line.match(/^ssd2_worker_batch_size_sum(?:\{[^}]*\})? ([\d.e+]+)$/);
    if (s) sum += Number(s[1]);
    const c = line.match(/^ssd2_worker_batch_size_count(?:\{[^}]*\})? ([\d.e+]+)$/);
    if (c) count += Number(c[1]);
  }
  return { buckets, sum, count };
}

/** The code this ran: the commit, and the files that differed from it (a shared working tree). */
function codeVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    return dirty.length ? `commit ${head} + uncommitted changes to ${dirty.join(', ')}` : `commit ${head}`;
  } catch {
    return 'unknown (no git)';
  }
}

const say = (line: string) => console.error(`[bench:batch ${((performance.now() - t0) / 1000).toFixed(1)} s] ${line}`);
const t0 = performance.now();

const model = readBundle(join(ROOT, 'models/tiny-core'));
const stateRoot = join(ROOT, '.cache/bench');
mkdirSync(stateRoot, { recursive: true });
const stateDir = mkdtempSync(join(stateRoot, 'batch-'));
const stack = new LocalStack({
  stateDir,
  bundles: [model],
  defaultModel: model,
  ports: { edge: 0, s3: 0, workers: [0] },
  workerEnv: { SSD2_PROVIDERS: 'cpu', WORKER_BATCH_WINDOW_MS: WINDOW },
  // A line stuck for a minute is aborted and retried (the consumer's deadline; 300 s by default).
  edgeVars: {
    DEFAULT_RATE_LIMIT_PER_MINUTE: '100000',
    BATCH_CONCURRENCY: String(CONCURRENCY),
    BATCH_LINE_TIMEOUT_SECONDS: '60',
    PRICES: JSON.stringify(PRICES),
  },
  readyTimeoutMs: 180_000,
  frozenEdge: true, // others edit this tree: a source edit would reload wrangler dev and stall the batch
  log: say,
});

let failed = false;
try {
  await stack.start();
  const workerUrl = stack.workers[0].url;
  const adminQueue = async () =>
    (await (await fetch(`${stack.edgeUrl}/admin/queue`, { headers: { authorization: `Bearer ${stack.adminSecret}` } })).json()) as {
      depth: number;
      oldest_age_seconds: number;
    };

  // Warm-up under another tenant: workerd isolates, the worker's model and session.
  const warmKey = await stack.newKey('bench-warmup');
  const warm = await fetch(`${stack.edgeUrl}/v1/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${warmKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny-core', prompt: PROMPTS[0], max_tokens: MAX_TOKENS, steps: STEPS, seed: 1 }),
  });
  if (!warm.ok) throw new Error(`warm-up call failed: ${warm.status} ${await warm.text()}`);

  const client = new BatchClient(stack.edgeUrl, await stack.newKey('bench-batch'));
  const { text, ids, malformed } = inputFile();
  const fileId = await client.upload(text);
  say(`uploaded ${N} lines (${MALFORMED} malformed, ${new TextEncoder().encode(text).length} bytes) as ${fileId}`);

  const before = await batchHistogram(workerUrl, stack.metricsToken);
  const started = performance.now();
  const created = await client.create(fileId);
  const createdMs = performance.now() - started;
  say(`created ${created.id} in ${createdMs.toFixed(0)} ms: ${JSON.stringify(created.request_counts)}`);

  let depthPeak = 0;
  let allRecordedMs: number | null = null;
  const timeline: { s: number; completed: number; failed: number; depth: number }[] = [];
  let lastLogged = 0;
  let lastProgress = { done: -1, at: performance.now() };
  const finished: BatchObject = await client.wait(created.id, TIMEOUT_MS, 500, async (b) => {
    const q = await adminQueue();
    const recorded = b.request_counts.completed + b.request_counts.failed;
    if (recorded !== lastProgress.done) lastProgress = { done: recorded, at: performance.now() };
    else if (performance.now() - lastProgress.at > STALL_MS)
      throw new Error(`no line recorded for ${STALL_MS / 1000} s (${recorded} of ${b.request_counts.total}, queue depth ${q.depth})`);
    depthPeak = Math.max(depthPeak, q.depth);
    const s = (performance.now() - started) / 1000;
    timeline.push({ s, completed: b.request_counts.completed, failed: b.request_counts.failed, depth: q.depth });
    if (allRecordedMs === null && b.request_counts.completed + b.request_counts.failed === b.request_counts.total)
      allRecordedMs = performance.now() - started;
    if (s - lastLogged >= 10) {
      lastLogged = s;
      say(
        `${b.status}: ${b.request_counts.completed} ok, ${b.request_counts.failed} failed of ${b.request_counts.total}; queue depth ` +
          `${q.depth}`,
      );
    }
  });
  const drainMs = performance.now() - started;
  const after = await batchHistogram(workerUrl, stack.metricsToken);
  say(`${finished.status} after ${(drainMs / 1000).toFixed(1)} s: ${JSON.stringify(finished.request_counts)}`);

  const out = await client.lines<OutputLine>(finished.output_file_id);
  const errs = await client.lines<ErrorLine>(finished.error_file_id);
  const usage = await client.usageTotal();

  // ---- checks (issue 6, "Done when") ----
  const per = outcomesPerLine(ids, out, errs);
  const lineCost = out.reduce(
    (s, o) =>
      s +
      costMicroUsd(priceTable, {
        model: 'tiny-core',
        promptTokens: o.response.body.usage.prompt_tokens,
        completionTokens: o.response.body.usage.completion_tokens,
        stepsRun: o.response.body.ssd2.steps_run,
        batch: true,
      }),
    0,
  );
  const sum = (f: (o: OutputLine) => number) => out.reduce((s, o) => s + f(o), 0);
  const errorLinesAreTheMalformed = errs.every((e) => malformed.has(e.error.line)) && errs.length === malformed.size;
  const checks: [string, boolean, string][] = [
    ['batch completed', finished.status === 'completed', finished.status],
    [`${N - MALFORMED} output lines`, out.length === N - MALFORMED, String(out.length)],
    [`${MALFORMED} error lines`, errs.length === MALFORMED, String(errs.length)],
    [
      'error lines are exactly the malformed input lines',
      errorLinesAreTheMalformed,
      [...new Set(errs.map((e) => e.error.code))].sort().join(', '),
    ],
    [
      'request_counts match the files',
      finished.request_counts.completed === out.length && finished.request_counts.failed === errs.length,
      JSON.stringify(finished.request_counts),
    ],
    [
      'every custom_id exactly once',
      per.missing.length === 0 && per.duplicated.length === 0 && per.unknown.length === 0,
      `missing ${per.missing.length}, duplicated ${per.duplicated.length}, unknown ${per.unknown.length}`,
    ],
    [
      'ledger: one usage record per line',
      usage.calls === N && usage.ok === N - MALFORMED && usage.failed === MALFORMED,
      `calls ${usage.calls}, ok ${usage.ok}, failed ${usage.failed}`,
    ],
    [
      "ledger cost = sum of the lines' usage at batch prices",
      usage.cost_micro_usd === lineCost,
      `${usage.cost_micro_usd} vs ${lineCost} micro-USD`,
    ],
    [
      "ledger tokens and steps = sum of the lines'",
      usage.prompt_tokens === sum((o) => o.response.body.usage.prompt_tokens) &&
        usage.completion_tokens === sum((o) => o.response.body.usage.completion_tokens) &&
        usage.steps_run === sum((o) => o.response.body.ssd2.steps_run),
      `prompt ${usage.prompt_tokens}, completion ${usage.completion_tokens}, steps ${usage.steps_run}`,
    ],
  ];
  failed = checks.some(([, ok]) => !ok);

  // ---- worker batch sizes (the histogram's growth during this batch) ----
  const les = [...after.buckets.keys()];
  const batches = after.count - before.count;
  const stepsServed = after.sum - before.sum;
  let prev = 0;
  const sizeRows: Row[] = les
    .map((le) => {
      const cum = (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0);
      const lower = les.indexOf(le) === 0 ? 1 : Number(les[les.indexOf(le) - 1]) + 1;
      const label = le === '+Inf' ? `> ${lower - 1}` : lower === Number(le) ? le : `${lower}-${le}`;
      const row = {
        'batch size (steps)': label,
        'batched inferences': cum - prev,
        share: batches ? `${(((cum - prev) / batches) * 100).toFixed(1)} %` : '-',
      };
      prev = cum;
      return row;
    })
    .filter((r) => r['batched inferences'] !== 0);
  const maxBucket = les.find((le) => (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0) === batches) ?? '?';

  const valid = N - MALFORMED;
  const tokens = sum((o) => o.response.body.usage.completion_tokens);
  const drainS = drainMs / 1000;
  const summary: Row[] = [
    { metric: 'input lines (malformed)', value: `${N} (${MALFORMED})` },
    { metric: 'time to create the batch (parse, D1 rows, enqueue)', value: `${(createdMs / 1000).toFixed(2)} s` },
    { metric: 'time to drain (create → status completed)', value: `${drainS.toFixed(1)} s` },
    {
      metric: 'time until every line was recorded',
      value: allRecordedMs === null ? '-' : `${((allRecordedMs as number) / 1000).toFixed(1)} s`,
    },
    { metric: 'lines/s (all lines, over the drain time)', value: Number((N / drainS).toFixed(2)) },
    { metric: 'generations/s (valid lines)', value: Number((valid / drainS).toFixed(2)) },
    { metric: 'output tokens/s', value: Number((tokens / drainS).toFixed(1)) },
    { metric: 'queue depth peak (GET /admin/queue, polled every 0.5 s)', value: depthPeak },
    { metric: 'worker batched inferences', value: batches },
    { metric: 'worker steps served', value: stepsServed },
    { metric: 'worker batch size: mean (steps per batched inference)', value: batches ? Number((stepsServed / batches).toFixed(2)) : '-' },
    { metric: 'worker batch size: largest bucket reached', value: `≤ ${maxBucket}` },
  ];
  const tenths = Array.from({ length: 10 }, (_, k) => timeline.find((p) => p.completed + p.failed >= ((k + 1) / 10) * N) ?? null).filter(
    (p, k, a) => p && a.indexOf(p) === k,
  ) as typeof timeline;
  const progress: Row[] = tenths.map((p) => ({
    's after create': Number(p.s.toFixed(1)),
    'output lines': p.completed,
    'error lines': p.failed,
    'queue depth': p.depth,
  }));

  writeReport(
    values.out!,
    `Batch benchmark (${N} lines on the local stack)`,
    [
      {
        heading: 'Throughput',
        rows: summary,
        note:
          `One GPU worker process (CPU provider, tiny-core, WORKER_BATCH_WINDOW_MS ${WINDOW}), wrangler dev (workerd; local D1, R2 ` +
          `and Queues; queue consumer max_batch_size 50 from wrangler.toml, BATCH_CONCURRENCY ${CONCURRENCY}). Lines: /v1/completions, ` +
          `max_tokens ${MAX_TOKENS}, ${STEPS} steps per block (one block), fused mode, early stopping at its default. The queue depth is ` +
          `D1's pending batch lines (running lines count as waiting). Code: ${codeVersion()}.`,
      },
      {
        heading: 'Worker batch sizes (ssd2_worker_batch_size histogram, this batch only)',
        rows: sizeRows.length ? sizeRows : [{ 'batch size (steps)': '-', 'batched inferences': 0, share: '-' }],
      },
      {
        heading: 'Progress',
        rows: progress.length ? progress : [{ 's after create': '-', 'output lines': '-', 'error lines': '-', 'queue depth': '-' }],
      },
      {
        heading: 'Checks (issue 6: exactly one outcome per line, the ledger equals the lines)',
        rows: checks.map(([check, ok, detail]) => ({ check, result: ok ? 'pass' : 'FAIL', detail })),
      },
    ],
    `npm run bench:batch -- --lines ${N} --max-tokens ${MAX_TOKENS} --steps ${STEPS} --concurrency ${CONCURRENCY} --window ${WINDOW}`,
  );
  if (failed) console.error('bench:batch: a check failed (see the Checks table)');
} catch (err) {
  failed = true;
  console.error('bench:batch failed:', err);
  for (const g of [stack.edge, ...stack.workers]) if (g) console.error(`--- ${g.name} output (tail) ---\n${g.output().slice(-4000)}`);
} finally {
  await stack.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
