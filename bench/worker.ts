/**
 * npm run bench:worker — the GPU worker over real HTTP, weights from a local S3 server (s3rver):
 * step throughput and latency at 1, 4 and 16 concurrent generations (driven step by step by the
 * shared block loop through RemoteDenoiser, and fused inside the worker), bytes per step, and step
 * latency with a cached vs an uncached context. The worker runs in its own process, as deployed.
 * Writes bench/results/worker.md (+ .json). Not a test: numbers depend on the machine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { contextHash, PROTOCOL_VERSION, RemoteDenoiser } from '../shared/protocol';
import { generateAll } from '../shared/ssd2';
import { startChildWorker } from '../tests/worker-gpu/helpers/child-worker';
import { startS3 } from '../tests/worker-gpu/helpers/s3';
import { workerEnv } from '../tests/worker-gpu/helpers/worker';
import { writeReport, type Row } from './lib/table';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/tiny-core' },
    concurrency: { type: 'string', default: '1,4,16' },
    steps: { type: 'string', default: '20' },
    providers: { type: 'string', default: 'cpu' },
    window: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/worker.md' },
    /** A bundled worker (bench/gpu-check.sh); default: worker-gpu/src/main.ts through tsx. */
    'worker-entry': { type: 'string' },
  },
});
const levels = values.concurrency!.split(',').map(Number);
const steps = Number(values.steps);

const s3 = await startS3();
const manifest = JSON.parse(readFileSync(join(values.model!, 'manifest.json'), 'utf8')) as { name: string; version: string; block_size: number; max_context: number; vocab_size: number };
const MODEL = { name: manifest.name, version: manifest.version };
await s3.upload(values.model!, `models/${MODEL.name}/${MODEL.version}/`);
const worker = await startChildWorker(workerEnv(s3, { WORKER_DEFAULT_MODEL: `${MODEL.name}@${MODEL.version}`, SSD2_PROVIDERS: values.providers!, WORKER_BATCH_WINDOW_MS: values.window! }), values['worker-entry']);

const percentile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const scrape = async () => (await (await fetch(`${worker.url}/metrics`)).text()).split('\n');
const sample = (lines: string[], name: string) => Number(lines.find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? 0);
const batchStats = async () => {
  const lines = await scrape();
  const label = `{model="${MODEL.name}@${MODEL.version}"}`;
  return { steps: sample(lines, `ssd2_worker_batch_size_sum${label}`), batches: sample(lines, `ssd2_worker_batch_size_count${label}`) };
};
const prompt = (i: number) => Array.from({ length: 20 }, (_, j) => (i * 37 + j * 11) % 500);
const request = (i: number) => ({ prompt: prompt(i), steps, maxTokens: manifest.block_size * 2, seed: i, earlyStopPatience: 0, stopAtEos: false });

async function stepMode(n: number): Promise<Row> {
  const latencies: number[] = [];
  const timed: typeof fetch = async (input, init) => {
    const t0 = performance.now();
    const res = await fetch(input, init);
    const body = await res.arrayBuffer();
    if (String(input).endsWith('/v1/step')) latencies.push(performance.now() - t0);
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const clients = await Promise.all(Array.from({ length: n }, () => RemoteDenoiser.connect({ endpoint: worker.url, model: MODEL, fetch: timed })));
  const before = await batchStats();
  const t0 = performance.now();
  const results = await Promise.all(clients.map((c, i) => generateAll({ core: c }, request(i))));
  const wall = (performance.now() - t0) / 1000;
  const after = await batchStats();
  const total = results.reduce((s, r) => s + r.stepsRun, 0);
  const requests = clients.reduce((s, c) => s + c.requests, 0);
  const bytes = clients.reduce((s, c) => s + c.bytesSent + c.bytesReceived, 0);
  return {
    mode: 'step (HTTP per step)', generations: n, 'steps/s': total / wall, 'p50 step ms': percentile(latencies, 0.5), 'p95 step ms': percentile(latencies, 0.95),
    'mean batch': (after.steps - before.steps) / Math.max(1, after.batches - before.batches), 'bytes/step (req+resp)': Math.round(bytes / requests),
  };
}

async function fusedMode(n: number): Promise<Row> {
  const before = await batchStats();
  const t0 = performance.now();
  const totals = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const { prompt: p, ...options } = request(i);
    const res = await fetch(`${worker.url}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ v: PROTOCOL_VERSION, model: MODEL, prompt: p, options }) });
    const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!);
    return last.stepsRun as number;
  }));
  const wall = (performance.now() - t0) / 1000;
  const after = await batchStats();
  const total = totals.reduce((a, b) => a + b, 0);
  return { mode: 'fused (in worker)', generations: n, 'steps/s': total / wall, 'p50 step ms': NaN, 'p95 step ms': NaN, 'mean batch': (after.steps - before.steps) / Math.max(1, after.batches - before.batches), 'bytes/step (req+resp)': 0 };
}

/** One step at a time: the same context again (hash only, key/value cache hit) vs a new context each time (tokens sent, encoded). */
async function contextLatency(length: number): Promise<Row> {
  const post = (body: unknown) => fetch(`${worker.url}/v1/step`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
  const base = { v: PROTOCOL_VERSION, model: MODEL, block: 0, step: 0, steps, blockLength: manifest.block_size, estimate: null, selfCond: null };
  const ctx = (salt: number) => Array.from({ length }, (_, j) => (j * 7 + salt * 13) % 500);
  const cachedCtx = ctx(0);
  await post({ ...base, seed: 0, context: cachedCtx });
  const hash = await contextHash(cachedCtx);
  const cached: number[] = [];
  const uncached: number[] = [];
  for (let r = 0; r < 30; r++) {
    let t0 = performance.now();
    await post({ ...base, seed: r, contextHash: hash });
    cached.push(performance.now() - t0);
    t0 = performance.now();
    await post({ ...base, seed: r, context: ctx(1000 + r + length) });
    uncached.push(performance.now() - t0);
  }
  return { context: length, 'cached (hash, KV hit) ms': percentile(cached, 0.5), 'uncached (tokens, encode) ms': percentile(uncached, 0.5), ratio: percentile(uncached, 0.5) / percentile(cached, 0.5) };
}

try {
  await stepMode(1); // warm-up
  const throughput: Row[] = [];
  for (const n of levels) throughput.push(await stepMode(n));
  for (const n of levels) throughput.push(await fusedMode(n));
  const base = (mode: string) => Number(throughput.find((r) => r.mode === mode && r.generations === levels[0])!['steps/s']);
  for (const r of throughput) r[`x vs ${levels[0]}`] = Number(r['steps/s']) / base(String(r.mode));
  const contexts: Row[] = [];
  for (const len of [8, 32, 128, 512].filter((l) => l <= manifest.max_context)) contexts.push(await contextLatency(len));
  const health = await (await fetch(`${worker.url}/healthz`)).json();
  writeReport(values.out!, 'GPU worker benchmark', [
    {
      heading: `Throughput (${MODEL.name}, provider ${health.provider}, ${steps} steps/block, 2 blocks of ${manifest.block_size} per generation, batch window ${values.window} ms)`,
      rows: throughput,
      note: 'Step mode: every step is one POST /v1/step from the shared block loop (RemoteDenoiser) in the benchmark process; the worker is a separate process. Step latency is measured at the client and includes HTTP and JSON. Bytes per step = request + response body bytes with the default k = 32; the context goes as tokens once per block and as a hash afterwards.',
    },
    { heading: 'Context: cached vs uncached (median of 30 single steps)', rows: contexts },
  ], `npm run bench:worker -- ${process.argv.slice(2).join(' ')}`.trim());
} finally {
  await worker.kill();
  await s3.close();
}
process.exit(0); // keep-alive sockets to the killed worker would otherwise hold the event loop a while
