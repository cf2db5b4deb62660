import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { BundleError, generateAll, IncompatibleModelsError, InvalidArgumentError } from '../../shared/ssd2';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import { copyBundle, editManifest, replaceFile } from '../helpers/bundle-copy';

const load = (dir: string) => loadLocalModel(dir);

describe('bad bundles get errors that name the file and field', () => {
  const tiny = inject('tinyBundle');

  it('loads the intact bundle and reports the execution provider', async () => {
    const m = await load(tiny);
    expect(m.denoiser.provider).toBe('cpu');
    expect(m.bundle.manifest.role).toBe('core');
  });

  it('a file whose sha256 does not match the manifest', async () => {
    const dir = copyBundle(tiny);
    const path = join(dir, 'tokenizer.json');
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace('"version"', '"versioN"'));
    const err = await load(dir).catch((e) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toMatch(/tokenizer\.json: sha256 [0-9a-f]{64} does not match the manifest's/);
    expect(err.file).toBe('tokenizer.json');
  });

  it('a missing file', async () => {
    const dir = copyBundle(tiny);
    rmSync(join(dir, 'denoiser.onnx'));
    await expect(load(dir)).rejects.toThrow(/denoiser\.onnx: file not found/);
  });

  it('a missing manifest', async () => {
    const dir = copyBundle(tiny);
    rmSync(join(dir, 'manifest.json'));
    await expect(load(dir)).rejects.toThrow(/manifest\.json: file not found/);
  });

  it('a manifest field of the wrong type or out of range', async () => {
    const dir = copyBundle(tiny);
    editManifest(dir, (m) => (m.vocab_size = 'many'));
    await expect(load(dir)).rejects.toThrow(/manifest\.json: field vocab_size: /);
    editManifest(dir, (m) => {
      m.vocab_size = 513;
      m.timestep_range = [0.8, 0.4];
    });
    await expect(load(dir)).rejects.toThrow(/manifest\.json: field timestep_range: lo must be < hi/);
    editManifest(dir, (m) => {
      m.timestep_range = [0, 1];
      m.format_version = 2;
    });
    await expect(load(dir)).rejects.toThrow(/manifest\.json: field format_version/);
  });

  it('a graph with unexpected inputs', async () => {
    const dir = copyBundle(tiny);
    editManifest(dir, (m) => (m.graphs.denoiser = 'context_encoder.onnx'));
    await expect(load(dir)).rejects.toThrow(
      new RegExp(
        'context_encoder\\.onnx: graph does not match the bundle format: missing inputs simplex_logits, self_cond_logits, ' +
          'timestep, past_mask; unexpected inputs input_ids, attention_mask',
      ),
    );
  });

  it('a graph onnxruntime cannot parse', async () => {
    const dir = copyBundle(tiny);
    replaceFile(dir, 'denoiser.onnx', 'not an onnx graph');
    await expect(load(dir)).rejects.toThrow(/denoiser\.onnx: onnxruntime cannot load the graph/);
  });

  it('core and user models whose tokenizers differ cannot collaborate', async () => {
    const dir = copyBundle(tiny);
    replaceFile(dir, 'tokenizer.json', readFileSync(join(tiny, 'tokenizer.json'), 'utf8') + '\n');
    editManifest(dir, (m) => {
      m.name = 'other-user';
      m.role = 'user';
    });
    const [core, user] = await Promise.all([load(tiny), load(dir)]);
    const err = await generateAll({ core: core.denoiser, user: user.denoiser }, { prompt: [1] }).catch((e) => e);
    expect(err).toBeInstanceOf(IncompatibleModelsError);
    expect(err.message).toMatch(/user model other-user does not match tiny-core: tokenizer\.json sha256/);
  });

  it('a prompt longer than the model context', async () => {
    const core = await load(tiny);
    const prompt = core.codec.encode('the cat sat on the mat '.repeat(40));
    const err = await generateAll({ core: core.denoiser }, { prompt }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(/^prompt: \d+ tokens exceed the core model's context of 135 tokens/);
  });
});
