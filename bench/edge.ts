/**
 * npm run bench:edge — the edge on loopback, for real: s3rver → GPU worker process → recording
 * proxy → `wrangler dev` (workerd). Measures the per-step orchestration overhead of the edge
 * (per-step mode: the time the edge spends between one worker step's reply and the next step's
 * request) beside the worker's own step time, fused vs per-step tokens per second, and bytes per
 * step each way (edge <-> worker and edge <-> client model). Writes bench/results/edge.md (+ .json).
 * Not a test: numbers depend on the machine and on what else runs on it.
 */
import { parseCli } from '../tools/cli/args';
import { loadUserModel, streamClientCompletion } from '../client/sdk';
import { contextHash, densifyLogits, workerAuthorization, type CompactLogits } from '../shared/protocol';
import { generateAll, type Denoiser } from '../shared/ssd2';
import { startEdgeStack } from '../tests/e2e/helpers/stack';
import type { ProxiedRequest } from '../tests/e2e/helpers/recording-proxy';
import { writeReport, type Row } from './lib/table';

const { values } = parseCli({
  usage: 'npm run bench:edge [-- options]',
  flags: {
    steps: { type: 'int', min: 1, default: 20, help: 'denoising steps per block' },
    'max-tokens': { type: 'int', min: 1, default: 50, help: 'max_tokens of each completion' },
    repeats: { type: 'int', min: 1, default: 3, help: 'completions per mode' },
    window: { type: 'int', arg: 'MS', min: 0, default: 0, help: "the GPU worker's WORKER_BATCH_WINDOW_MS" },
    out: { type: 'string', arg: 'PATH', default: 'bench/results/edge.md', help: 'report path (.json beside it)' },
  },
});
const steps = values.steps;
const repeats = values.repeats;
const BODY = {
  model: 'tiny-core',
  prompt: 'The cat sat on the',
  max_tokens: values['max-tokens'],
  steps,
  early_stop: 0,
  seed: 7,
  top_p: 0.95,
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Run {
  ms: number;
  tokens: number;
  stepsRun: number;
  setupMs: number;
  log: ProxiedRequest[];
  wsIn?: number;
  wsOut?: number;
}

const stack = await startEdgeStack({ workerEnv: { WORKER_BATCH_WINDOW_MS: String(values.window) } });
try {
  const apiKey = await stack.newKey('bench');
  const user = await loadUserModel('models/tiny-core');

  async function completion(extra: Record<string, unknown>): Promise<Run> {
    stack.proxy.log.length = 0;
    const t0 = performance.now();
    const res = await fetch(`${stack.edgeUrl}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...BODY, ...extra }),
    });
    const body = (await res.json()) as { usage: { completion_tokens: number }; ssd2: { steps_run: number }; error?: unknown };
    const ms = performance.now() - t0;
    if (!res.ok) throw new Error(JSON.stringify(body));
    const log = [...stack.proxy.log];
    return {
      ms,
      tokens: body.usage.completion_tokens,
      stepsRun: body.ssd2.steps_run,
      setupMs: (log.find((r) => r.path === '/v1/step')?.start ?? t0) - t0,
      log,
    };
  }

  async function withClient(lambda: number): Promise<Run> {
    stack.proxy.log.length = 0;
    const t0 = performance.now();
    const run = streamClientCompletion({
      baseUrl: stack.edgeUrl,
      apiKey,
      coreModel: BODY.model,
      prompt: BODY.prompt,
      model: user,
      privateContext: 'The bird sang in the tree.',
      lambda,
      maxTokens: BODY.max_tokens,
      steps,
      earlyStop: 0,
      seed: BODY.seed,
      topP: BODY.top_p,
      deadlineMs: 30_000,
    });
    for await (const _ of run);
    const r = await run.result;
    const ms = performance.now() - t0;
    const log = [...stack.proxy.log];
    return {
      ms,
      tokens: r.usage?.completion_tokens ?? 0,
      stepsRun: r.client.stepsAnswered,
      setupMs: (log.find((x) => x.path === '/v1/step')?.start ?? t0) - t0,
      log,
      wsIn: r.client.bytesReceived,
      wsOut: r.client.bytesSent,
    };
  }

  const modes: [string, () => Promise<Run>][] = [
    ['fused', () => completion({ mode: 'fused' })],
    ['per_step (core only)', () => completion({ mode: 'per_step' })],
    ['per_step + client model (λ 0.5)', () => withClient(0.5)],
  ];
  const results = new Map<string, Run[]>();
  for (const [name, fn] of modes) {
    await fn(); // warm-up: model loads, caches, workerd isolates
    const runs: Run[] = [];
    for (let i = 0; i < repeats; i++) runs.push(await fn());
    results.set(name, runs);
    console.error(`${name}: ${runs.map((r) => r.ms.toFixed(0)).join(', ')} ms`);
  }

  const throughput: Row[] = [...results].map(([mode, runs]) => {
    const ms = median(runs.map((r) => r.ms));
    const r = runs[0];
    return {
      mode,
      tokens: r.tokens,
      'steps run': r.stepsRun,
      'wall ms (median)': ms,
      'tokens/s': (r.tokens / ms) * 1000,
      'ms per step': ms / r.stepsRun,
    };
  });

  // Per-step orchestration: worker step time as the edge sees it (the proxy's round trip to the
  // worker) and the edge's own time between a step's reply and the next step's request.
  const overhead: Row[] = [...results]
    .filter(([m]) => m !== 'fused')
    .map(([mode, runs]) => {
      const workerMs: number[] = [];
      const workerInternal: number[] = [];
      const gaps: number[] = [];
      for (const r of runs) {
        const st = r.log.filter((x) => x.path === '/v1/step').sort((a, b) => a.start - b.start);
        st.forEach((x, i) => {
          workerMs.push(x.end - x.start);
          const timing = (x.responseJson as { timing?: { totalMs: number } } | null)?.timing;
          if (timing) workerInternal.push(timing.totalMs);
          if (i > 0) gaps.push(x.start - st[i - 1].end);
        });
      }
      const w = mean(workerMs);
      const g = mean(gaps);
      return {
        mode,
        'worker step ms (HTTP, at proxy)': w,
        'worker step ms (its own timing)': mean(workerInternal),
        'edge ms between steps': g,
        'edge p50 ms': median(gaps),
        'overhead vs worker step': `${((g / w) * 100).toFixed(0)} %`,
        'request setup ms': median(runs.map((r) => r.setupMs)),
      };
    });

  // The same per-step engine work in Node (no workerd, no network): the worker's reply JSON is
  // parsed and densified, the loop mixes/projects/checks early stopping, the next request is
  // hashed and serialised. What the edge spends beyond this is the runtime and the loopback hops.
  const per = results.get('per_step (core only)')![0];
  const st = per.log.filter((x) => x.path === '/v1/step');
  const replyText = JSON.stringify(st[1].responseJson);
  const requestText = st[1].requestBody;
  const info = (await (
    await fetch(`${stack.workerUrl}/v1/models/tiny-core/0.1.0`, {
      headers: { authorization: await workerAuthorization(stack.workerSecret, 'bench') },
    })
  ).json()) as { info: Denoiser['info'] };
  const replay: Denoiser = {
    info: info.info,
    denoise: async (steps) => {
      await contextHash(steps[0].context);
      JSON.parse(JSON.stringify(JSON.parse(requestText)));
      return [densifyLogits((JSON.parse(replyText) as { logits: CompactLogits }).logits)];
    },
  };
  const engineMs: number[] = [];
  for (let i = 0; i < repeats + 1; i++) {
    const t0 = performance.now();
    const r = await generateAll(
      { core: replay },
      { prompt: [1, 2, 3], maxTokens: BODY.max_tokens, steps, earlyStopPatience: 0, seed: BODY.seed, topP: BODY.top_p },
    );
    if (i > 0) engineMs.push((performance.now() - t0) / r.stepsRun);
  }
  overhead.push({
    mode: 'engine work per step in Node (same code, no runtime, no network)',
    'worker step ms (HTTP, at proxy)': '',
    'worker step ms (its own timing)': '',
    'edge ms between steps': median(engineMs),
    'edge p50 ms': median(engineMs),
    'overhead vs worker step': `${((median(engineMs) / mean(st.map((x) => x.end - x.start))) * 100).toFixed(0)} %`,
    'request setup ms': '',
  });

  const bytes: Row[] = [];
  bytes.push({
    link: 'edge → worker, step 0 of a block (context as tokens, no self-conditioning)',
    'bytes per step': st[0].requestBody.length,
  });
  bytes.push({
    link: 'edge → worker, later steps (context by hash, self-conditioning logits)',
    'bytes per step': mean(
      st
        .slice(1)
        .filter((x) => !x.requestBody.includes('"context":'))
        .map((x) => x.requestBody.length),
    ),
  });
  bytes.push({ link: 'edge → worker, mean over all steps', 'bytes per step': mean(st.map((x) => x.requestBody.length)) });
  bytes.push({ link: 'worker → edge (compact logits, k 32)', 'bytes per step': mean(st.map((x) => x.responseBytes)) });
  const cl = results.get('per_step + client model (λ 0.5)')![0];
  bytes.push({ link: 'edge → client model (step message)', 'bytes per step': (cl.wsIn ?? 0) / cl.stepsRun });
  bytes.push({ link: 'client model → edge (compact logits, k 32)', 'bytes per step': (cl.wsOut ?? 0) / cl.stepsRun });
  const fused = results.get('fused')![0].log.find((x) => x.path === '/v1/generate')!;
  bytes.push({ link: 'fused: edge → worker, whole generation', 'bytes per step': `${fused.requestBody.length} B total` });
  bytes.push({ link: 'fused: worker → edge, whole generation', 'bytes per step': `${fused.responseBytes} B total` });

  writeReport(
    values.out!,
    'Edge benchmark (wrangler dev on loopback)',
    [
      {
        heading:
          `Throughput: fused vs per-step (tiny-core, ${steps} steps per block, early stop off, ${BODY.max_tokens} tokens, median ` +
          `of ${repeats})`,
        rows: throughput,
      },
      {
        heading: 'Per-step orchestration overhead',
        rows: overhead,
        note:
          'Worker step = the recording proxy\'s round trip to the worker (HTTP + batching + the model); "edge ms between steps" = ' +
          "from a step's reply leaving the proxy to the next step's request reaching it: the Durable Object's decoding of the compact reply, mix, early-stop " +
          'check, projection, compact encoding and its fetch (two loopback hops through the proxy). With a client model the gap also ' +
          'holds waiting for the client (the core and the client run in parallel). Request setup = request sent → first step at the ' +
          'worker (auth, D1, rate limit DO, Generation DO, model info from the worker; with a client model also reserving ' +
          'the generation and the WebSocket join).',
      },
      { heading: 'Bytes per step', rows: bytes },
    ],
    `npm run bench:edge -- --steps ${steps} --max-tokens ${BODY.max_tokens} --repeats ${repeats} --window ${values.window}`,
  );
} finally {
  await stack.stop();
}
