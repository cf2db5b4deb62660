/**
 * npm run bench:worker — the GPU worker over real HTTP, weights from a local S3 server (s3rver):
 * step throughput and latency at 1, 4 and 16 concurrent generations (driven step by step by the
 * shared block loop through RemoteDenoiser, and fused inside the worker), bytes per step, and step
 * latency with a cached vs an uncached context. The worker runs in its own process, as deployed.
 * Writes bench/results/worker.md (+ .json). Not a test: numbers depend on the machine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contextHash, PROTOCOL_VERSION, RemoteDenoiser, wireView } from '../shared/protocol';
import { generateAll } from '../shared/ssd2';
import { Admission, DynamicBatcher } from '../worker-gpu/src/engine/batcher';
import { loadLocalModel } from '../worker-gpu/src/runtime/local-model';
import { parseCli } from '../tools/cli/args';
import { providersArg } from '../client/cli/common';
import { startChildWorker, type ChildWorker } from '../tests/worker-gpu/helpers/child-worker';
import { startS3 } from '../tests/worker-gpu/helpers/s3';
import { workerEnv, workerFetch } from '../tests/worker-gpu/helpers/worker';
import { graphClock } from '../shared/runtime/graph-clock';
import { realShapeBundle } from './lib/bundles';
import { writeReport, type Row } from './lib/table';

const { values } = parseCli({
  usage: 'npm run bench:worker [-- options]',
  flags: {
    model: {
      type: 'string',
      arg: 'DIR',
      default: 'models/tiny-core',
      help: 'the bundle the worker serves (real-shape: a random one of GPT-2 shape)',
    },
    concurrency: { type: 'ints', min: 1, default: [1, 4, 16], help: 'concurrent generations' },
    steps: { type: 'int', min: 1, default: 20, help: 'denoising steps per block' },
    providers: { type: 'string', arg: 'LIST', default: 'cpu', help: "the worker's SSD2_PROVIDERS (cuda, webgpu, cpu)" },
    window: { type: 'int', arg: 'MS', min: 0, default: 2, help: "the worker's WORKER_BATCH_WINDOW_MS" },
    rounds: {
      type: 'int',
      min: 1,
      default: 2,
      help: 'throughput runs per level, interleaved (1, 4, 16, 1, 4, 16, ...); the best is reported',
    },
    modes: {
      type: 'string',
      arg: 'LIST',
      default: 'step,fused',
      help: 'throughput modes: step (the block loop here, one HTTP call per step), fused (the loop in the worker)',
    },
    out: { type: 'string', arg: 'PATH', default: 'bench/results/worker.md', help: 'report path (.json beside it)' },
    'worker-entry': {
      type: 'string',
      arg: 'PATH',
      help: 'a bundled worker (bench/gpu-check.sh); default: worker-gpu/src/main.ts through tsx',
    },
    'generation-threads': {
      type: 'int',
      min: 0,
      default: 0,
      help: '> 0 adds fused rows from a second worker with WORKER_GENERATION_THREADS at this value',
    },
  },
});
providersArg(values.providers);
const levels = values.concurrency;
const steps = values.steps;
const rounds = values.rounds;

// 'real-shape': a randomly initialised model of GPT-2's vocabulary with blocks of 25 (made here once).
const modelDir = values.model === 'real-shape' ? await realShapeBundle('core') : values.model!;
const s3 = await startS3();
const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as {
  name: string;
  version: string;
  block_size: number;
  max_context: number;
  vocab_size: number;
};
const MODEL = { name: manifest.name, version: manifest.version };
await s3.upload(modelDir, `models/${MODEL.name}/${MODEL.version}/`);
const startWorker = (extra: Record<string, string> = {}) =>
  startChildWorker(
    workerEnv(s3, {
      WORKER_DEFAULT_MODEL: `${MODEL.name}@${MODEL.version}`,
      SSD2_PROVIDERS: values.providers,
      WORKER_BATCH_WINDOW_MS: String(values.window),
      ...extra,
    }),
    values['worker-entry'],
  );
const worker = await startWorker();
const generationThreads = values['generation-threads'];
const threadedWorker = generationThreads > 0 ? await startWorker({ WORKER_GENERATION_THREADS: String(generationThreads) }) : null;

const percentile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const scrape = async (target: ChildWorker) => (await (await workerFetch(`${target.url}/metrics`)).text()).split('\n');
const sample = (lines: string[], name: string) => Number(lines.find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? 0);
const modelLabel = `{model="${MODEL.name}@${MODEL.version}"}`;
/** Worker process CPU (user + system, all threads, onnxruntime's included), ms; Linux /proc. */
const workerCpuMs = (target: ChildWorker) => {
  const fields = readFileSync(`/proc/${target.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
};
const clientCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** Cumulative worker counters: batched steps, batches, ms inside the denoiser graph. */
const counters = async (target: ChildWorker = worker) => {
  const lines = await scrape(target);
  return {
    steps: sample(lines, `ssd2_worker_batch_size_sum${modelLabel}`),
    batches: sample(lines, `ssd2_worker_batch_size_count${modelLabel}`),
    onnxMs: 1000 * sample(lines, `ssd2_worker_onnx_seconds_total${modelLabel}`),
    graphBusyMs: 1000 * sample(lines, 'ssd2_worker_graph_busy_seconds_total'),
    wallMs: performance.now(),
    workerCpuMs: workerCpuMs(target),
    clientCpuMs: clientCpuMs(),
  };
};
type Counters = Awaited<ReturnType<typeof counters>>;
/** Per-step figures between two counter snapshots. */
const perStep = (a: Counters, b: Counters, stepsRun: number) => ({
  'mean batch': (b.steps - a.steps) / Math.max(1, b.batches - a.batches),
  'worker CPU ms/step': (b.workerCpuMs - a.workerCpuMs) / stepsRun,
  'onnx ms/step': (b.onnxMs - a.onnxMs) / stepsRun,
  'worker outside onnxruntime %': Math.round((100 * (b.wallMs - a.wallMs - (b.graphBusyMs - a.graphBusyMs))) / (b.wallMs - a.wallMs)),
  'client CPU ms/step': (b.clientCpuMs - a.clientCpuMs) / stepsRun,
});
const prompt = (i: number) => Array.from({ length: 20 }, (_, j) => (i * 37 + j * 11) % 500);
const request = (i: number) => ({
  prompt: prompt(i),
  steps,
  maxTokens: manifest.block_size * 2,
  seed: i,
  earlyStopPatience: 0,
  stopAtEos: false,
});

async function stepMode(n: number): Promise<Row> {
  const latencies: number[] = [];
  const timed: typeof fetch = async (input, init) => {
    const t0 = performance.now();
    const res = await workerFetch(input, init);
    const body = await res.arrayBuffer();
    if (String(input).endsWith('/v1/step')) latencies.push(performance.now() - t0);
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const clients = await Promise.all(
    Array.from({ length: n }, () => RemoteDenoiser.connect({ endpoint: worker.url, model: MODEL, fetch: timed })),
  );
  const before = await counters();
  const t0 = performance.now();
  const results = await Promise.all(clients.map((c, i) => generateAll({ core: c }, request(i))));
  const wall = (performance.now() - t0) / 1000;
  const after = await counters();
  const total = results.reduce((s, r) => s + r.stepsRun, 0);
  const requests = clients.reduce((s, c) => s + c.requests, 0);
  const bytes = clients.reduce((s, c) => s + c.bytesSent + c.bytesReceived, 0);
  return {
    mode: 'step (HTTP per step)',
    generations: n,
    'steps/s': total / wall,
    'p50 step ms': percentile(latencies, 0.5),
    'p95 step ms': percentile(latencies, 0.95),
    ...perStep(before, after, total),
    'bytes/step (req+resp)': Math.round(bytes / requests),
  };
}

async function fusedMode(n: number, target: ChildWorker = worker, mode = 'fused (in worker)'): Promise<Row> {
  const before = await counters(target);
  const t0 = performance.now();
  const totals = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const { prompt: p, ...options } = request(i);
      const res = await workerFetch(`${target.url}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: PROTOCOL_VERSION, model: MODEL, prompt: p, options }),
      });
      const last = JSON.parse((await res.text()).trim().split('\n').at(-1)!);
      return last.stepsRun as number;
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const after = await counters(target);
  const total = totals.reduce((a, b) => a + b, 0);
  return {
    mode,
    generations: n,
    'steps/s': total / wall,
    'p50 step ms': NaN,
    'p95 step ms': NaN,
    ...perStep(before, after, total),
    'bytes/step (req+resp)': 0,
  };
}

/**
 * Where a step's time goes, in this process (the worker process is idle meanwhile): the fused
 * loop (shared generate() over wireView over a DynamicBatcher over OnnxDenoiser, as in the
 * worker) for n lock-step generations, split into time inside the denoiser graph, time building
 * its inputs, and the rest (the engine loop per item: compaction, projection, argmax; and waits).
 */
async function breakdown(n: number, model: Awaited<ReturnType<typeof loadLocalModel>>): Promise<Row> {
  const d = model.denoiser;
  const sizes: number[] = [];
  const batcher = new DynamicBatcher(d, {
    windowMs: Number(values.window),
    maxBatch: 32,
    admission: new Admission(1024),
    onBatch: (size) => sizes.push(size),
  });
  const t = { ...d.timing };
  const busy0 = graphClock.busyMs;
  const cpu0 = clientCpuMs();
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => generateAll({ core: wireView(batcher, 32), math: d.stepMath }, request(i))),
  );
  const wallMs = performance.now() - t0;
  const busyMs = graphClock.busyMs - busy0;
  const cpuMs = clientCpuMs() - cpu0;
  const items = d.timing.items - t.items;
  const batches = d.timing.batches - t.batches;
  const runMs = d.timing.runMs - t.runMs;
  const prepMs = d.timing.prepMs - t.prepMs;
  const stepsRun = results.reduce((a, r) => a + r.stepsRun, 0);
  return {
    generations: n,
    'mean batch': items / batches,
    'steps/s': (1000 * stepsRun) / wallMs,
    'onnx ms/batch': runMs / batches,
    'onnx ms/item': runMs / items,
    'input prep ms/item': prepMs / items,
    'any graph busy ms/item': busyMs / items,
    'host ms/item': (wallMs - busyMs) / items,
    'host %': Math.round((100 * (wallMs - busyMs)) / wallMs),
    'wall ms/item': wallMs / items,
    'CPU ms/item': cpuMs / items,
  };
}

/**
 * 16 steps per batch (16 generations in lock-step), each with its own context of `length`
 * tokens, 10 steps: ms per batch with the padded key/value caches reused per batch composition
 * (the default) and built on every step (batchCacheBytes 0, as before the reuse).
 */
async function batchedContext(
  length: number,
  reuse: Awaited<ReturnType<typeof loadLocalModel>>,
  rebuild: Awaited<ReturnType<typeof loadLocalModel>>,
): Promise<Row> {
  const n = 16;
  const contexts = Array.from({ length: n }, (_, i) => Array.from({ length: length - (i % 4) }, (_, j) => (j * 7 + i * 31) % 500));
  const run = async (model: typeof reuse) => {
    const d = model.denoiser;
    const stepAt = (s: number) =>
      contexts.map((context, i) => ({
        context,
        noise: { seed: i, block: 0, step: s, steps: 10, estimate: null, blockLength: manifest.block_size },
        selfCond: null,
      }));
    await d.denoise(stepAt(0)); // encodes the contexts
    const t = { ...d.timing };
    const t0 = performance.now();
    for (let s = 1; s < 10; s++) await d.denoise(stepAt(s));
    return { ms: (performance.now() - t0) / 9, prep: (d.timing.prepMs - t.prepMs) / 9, onnx: (d.timing.runMs - t.runMs) / 9 };
  };
  const a = await run(reuse);
  const b = await run(rebuild);
  return {
    context: length,
    'ms/batch (padding reused)': a.ms,
    'prep ms (reused)': a.prep,
    'onnx ms (reused)': a.onnx,
    'ms/batch (padding every step)': b.ms,
    'prep ms (every step)': b.prep,
    'onnx ms (every step)': b.onnx,
  };
}

/**
 * One step at a time with a context of `length` tokens: the same context step after step (hash
 * only, key/value cache hit: a generation's steady state), the same context again right after a
 * new context was encoded (the CPU caches then hold the encode's data, not the weights), and a
 * new context each time (tokens sent, encoded).
 */
async function contextLatency(length: number): Promise<Row> {
  const post = (body: unknown) =>
    workerFetch(`${worker.url}/v1/step`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  const base = {
    v: PROTOCOL_VERSION,
    model: MODEL,
    block: 0,
    step: 0,
    steps,
    blockLength: manifest.block_size,
    estimate: null,
    selfCond: null,
  };
  const ctx = (salt: number) => Array.from({ length }, (_, j) => (j * 7 + salt * 13) % 500);
  const cachedCtx = ctx(0);
  await post({ ...base, seed: 0, context: cachedCtx });
  const hash = await contextHash(cachedCtx);
  const timed = async (body: unknown) => {
    const t0 = performance.now();
    await post(body);
    return performance.now() - t0;
  };
  const consecutive: number[] = [];
  const before = await counters();
  for (let r = 0; r < 30; r++) consecutive.push(await timed({ ...base, seed: r, contextHash: hash }));
  const after = await counters();
  const cached: number[] = [];
  const uncached: number[] = [];
  for (let r = 0; r < 30; r++) {
    cached.push(await timed({ ...base, seed: r, contextHash: hash }));
    uncached.push(await timed({ ...base, seed: r, context: ctx(1000 + r + length) }));
  }
  const med = (xs: number[]) => percentile(xs, 0.5);
  return {
    context: length,
    'cached ms (steady)': med(consecutive),
    'onnx ms (steady)': (after.onnxMs - before.onnxMs) / 30,
    'cached ms (after an encode)': med(cached),
    'uncached ms (tokens, encode)': med(uncached),
    'uncached / cached': med(uncached) / med(consecutive),
  };
}

try {
  const modes = values.modes!.split(',');
  if (modes.includes('step')) await stepMode(1); // warm-up
  await fusedMode(1);
  const throughput: Row[] = [];
  const threadedMode = (n: number) => fusedMode(n, threadedWorker!, `fused, ${generationThreads} generation threads`);
  if (threadedWorker) await threadedMode(1);
  for (const mode of [
    ...(modes.includes('step') ? [stepMode] : []),
    ...(modes.includes('fused') ? [fusedMode] : []),
    ...(threadedWorker ? [threadedMode] : []),
  ]) {
    const best = new Map<number, Row>();
    for (let r = 0; r < rounds; r++) {
      for (const n of levels) {
        const row = await mode(n);
        if (!best.has(n) || Number(row['steps/s']) > Number(best.get(n)!['steps/s'])) best.set(n, row);
      }
    }
    throughput.push(...levels.map((n) => best.get(n)!));
  }
  const base = (mode: string) => throughput.find((r) => r.mode === mode && r.generations === levels[0])!;
  for (const r of throughput) {
    r[`x vs ${levels[0]}`] = Number(r['steps/s']) / Number(base(String(r.mode))['steps/s']);
    r[`x vs ${levels[0]} by worker CPU`] = Number(base(String(r.mode))['worker CPU ms/step']) / Number(r['worker CPU ms/step']);
  }

  const local = await loadLocalModel(modelDir, providersArg(values.providers));
  await breakdown(1, local); // warm-up
  const split: Row[] = [];
  for (const n of levels) split.push(await breakdown(n, local));
  const b1 = split[0];
  for (const r of split) {
    r[`x vs ${levels[0]}`] = Number(r['steps/s']) / Number(b1['steps/s']);
    r[`onnx-only bound x vs ${levels[0]}`] = Number(b1['onnx ms/item']) / Number(r['onnx ms/item']);
  }

  const rebuild = await loadLocalModel(modelDir, providersArg(values.providers), { batchCacheBytes: 0 });
  const batched: Row[] = [];
  for (const len of [32, Math.min(512, manifest.max_context)]) batched.push(await batchedContext(len, local, rebuild));
  for (const r of batched) r['reused vs 32'] = Number(r['ms/batch (padding reused)']) / Number(batched[0]['ms/batch (padding reused)']);

  const contexts: Row[] = [];
  for (const len of [8, 32, 128, 512].filter((l) => l <= manifest.max_context)) contexts.push(await contextLatency(len));
  const c32 = contexts.find((r) => r.context === 32);
  if (c32) for (const r of contexts) r['steady vs 32'] = Number(r['cached ms (steady)']) / Number(c32['cached ms (steady)']);
  const health = await (await fetch(`${worker.url}/healthz`)).json();
  writeReport(
    values.out!,
    'GPU worker benchmark',
    [
      {
        heading:
          `Throughput (${MODEL.name}, provider ${health.provider}, ${steps} steps/block, 2 blocks of ${manifest.block_size} per ` +
          `generation, batch window ${values.window} ms, best of ${rounds} interleaved rounds)`,
        rows: throughput,
        note: [
          'Step mode: every step is one POST /v1/step from the shared block loop (RemoteDenoiser) in the benchmark process; the worker ' +
            'is a separate process. Step latency is measured at the client and includes HTTP and JSON. Bytes per step = request + ' +
            'response body bytes with the default k = 32; the context goes as tokens once per block and as a hash afterwards.',
          ...(threadedWorker
            ? [
                `fused, ${generationThreads} generation threads: the same fused requests to a second worker process started with ` +
                  `WORKER_GENERATION_THREADS=${generationThreads} (block loops on worker threads, steps batched on the main thread; the ` +
                  `same tokens).`,
              ]
            : []),
          'worker CPU ms/step: CPU time of the worker process (all threads, onnxruntime included) per step; onnx ms/step: wall time ' +
            "inside the denoiser graph per step (one batch's time shared by its steps); worker outside onnxruntime %: the share of the " +
            "run's wall time during which no onnxruntime session ran in the worker (its JavaScript, HTTP and idle time); client CPU " +
            'ms/step: the benchmark process (the clients, the engine loop in step mode). "x vs 1 by worker CPU" is how much less worker ' +
            "CPU a step costs than at one generation, which the shared machine's load does not skew.",
        ].join('\n\n'),
      },
      {
        heading: `Where the time goes: the fused loop in one process (${MODEL.name}, lock-step generations)`,
        rows: split,
        note:
          'onnx ms: inside session.run of the denoiser graph (onnxruntime uses every core); input prep: building the batch inputs ' +
          '(noise and self-conditioning, by graph or in JavaScript, padded caches); any graph busy: wall time during which some ' +
          'onnxruntime session ran (denoiser, encoder, the step graphs for blocks of 2^16 logits or more); host: the rest of the wall ' +
          'time (the engine loop in JavaScript, batcher waits). "onnx-only bound" is the speed-up batching could give if every cost ' +
          'outside the denoiser were zero: onnx ms per item at one generation over onnx ms per item at n.',
      },
      {
        heading: `Context length in a batch: 16 lock-step generations, one context each (${MODEL.name}, in one process)`,
        rows: batched,
        note:
          'Contexts of length, length-1, length-2, length-3 tokens (padded to the longest, masked). prep ms: building the batch ' +
          'inputs, padded key/value caches included; onnx ms: inside the denoiser graph. "padding every step" disables the reuse of ' +
          'padded caches per batch composition (batchCacheBytes 0), as the worker did before.',
      },
      {
        heading: 'Context length: step latency (median of 30 single steps)',
        rows: contexts,
        note:
          'steady: the same context step after step, as in a generation (hash only, key/value cache hit); onnx ms (steady): time ' +
          'inside the denoiser graph per such step. after an encode: the cached context again right after a new context of the same ' +
          'length was encoded. uncached: a new context each step (tokens sent and encoded).',
      },
    ],
    `npm run bench:worker -- ${process.argv.slice(2).join(' ')}`.trim(),
  );
} finally {
  await worker.kill();
  await threadedWorker?.kill();
  await s3.close();
}
process.exit(0); // keep-alive sockets to the killed worker would otherwise hold the event loop a while
