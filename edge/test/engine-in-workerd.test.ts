import { describe, expect, inject, it } from 'vitest';
import { fillGaussian, generateAll } from '../../shared/ssd2/index';
import { parseManifest } from '../../shared/bundle';
import { sha256Hex } from '../../shared/bundle/load';
import { codecFromJson } from '../../shared/tokenizer';
import tinyTokenizer from '../../models/tiny-core/tokenizer.json';
import app from '../src/index';
import { ScriptedDenoiser } from '../../tests/helpers/scripted-denoiser';

describe('the shared engine runs unchanged in workerd', () => {
  it('regenerates exactly the noise Node computed', () => {
    const here = Array.from(fillGaussian(new Float32Array(64), { seed: 2 ** 40 + 7, block: 3, step: 11 }, 5));
    expect(here).toEqual(inject('noiseReference'));
  });

  it('runs the block loop with collaboration, early stopping and routing', async () => {
    const core = [
      new ScriptedDenoiser({ name: 'main' }, () => 3),
      new ScriptedDenoiser({ name: 'high', timestepRange: [0.8, 1] }, () => 3),
    ];
    const user = new ScriptedDenoiser({ role: 'user' }, () => 4);
    const r = await generateAll({ core, user }, { prompt: [1, 2], steps: 10, maxTokens: 8, lambda: 0.8, earlyStopPatience: 2 });
    expect(r.tokens).toEqual(Array(8).fill(4));
    expect(r.stepsSaved).toBeGreaterThan(0);
  });

  it('tokenizes with @huggingface/tokenizers exactly as Node does', () => {
    const codec = codecFromJson('models/tiny-core', 'tokenizer.json', new TextEncoder().encode(JSON.stringify(tinyTokenizer)), 513, 512);
    const ids = codec.encode('The cat sat on the mat.');
    expect(ids).toEqual(inject('tokenizerReference'));
    expect(codec.decode(ids)).toBe('The cat sat on the mat.');
  });

  it('hashes bundle files with WebCrypto and validates manifests', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(() => parseManifest('mem://x', new TextEncoder().encode('{"format":"ssd2-bundle"}'))).toThrow(
      /manifest\.json: field format_version/,
    );
  });
});

describe('edge skeleton', () => {
  it('answers /healthz', async () => {
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, bundle_format_version: 1 });
  });
});
