import { describe, expect, it } from 'vitest';
import {
  blockLogits,
  generateAll,
  noisySimplex,
  type BlockLogits,
  type DenoiseStep,
  type Denoiser,
  type DenoiserInfo,
  type GenerationRequest,
} from '../../shared/ssd2';
import { wireView } from '../../shared/protocol';

/**
 * Pins the exact bits the engine produces at a vocabulary of 4096 (noise, projections, early
 * stopping, self-conditioning, the wire form), so that speed-ups to the hot paths cannot change
 * a result silently. The digests follow the noise-table noise and the nucleus among the 512 most
 * probable tokens; a change here means generations differ from every earlier worker, client and edge.
 */

/** FNV-1a over the float32 bits (or the numbers, for token lists). */
function digest(values: Float32Array | readonly number[]): string {
  const words = values instanceof Float32Array ? new Uint32Array(values.buffer, values.byteOffset, values.length) : values;
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return (h >>> 0).toString(16);
}

const info: DenoiserInfo = {
  name: 'echo',
  role: 'core',
  vocabSize: 4096,
  blockSize: 25,
  maxContext: 512,
  simplexK: 5,
  schedule: 'cosine',
  tTrain: 5000,
  timestepRange: [0, 1],
  selfConditioning: true,
  eosTokenId: 4095,
  tokenizerSha256: 'x'.repeat(64),
};

/**
 * Logits that depend on every bit of the noisy simplex, on the self-conditioning input and on the
 * context, scaled by `sharpness` (low: near-uniform rows, large nuclei; high: peaked rows).
 */
class NoiseEchoDenoiser implements Denoiser {
  readonly info = info;
  constructor(private readonly sharpness: number) {}

  async denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]> {
    return steps.map((s) => {
      const v = info.vocabSize;
      const w = noisySimplex(s.noise, v, info.simplexK);
      const bias = s.context.length % 7;
      const out = new Float32Array(w.length);
      for (let i = 0; i < w.length; i++) {
        const self = s.selfCond ? s.selfCond.data[i] : 0;
        out[i] = this.sharpness * (w[i] + 0.5 * self) + (((i % v) * 2654435761) >>> 28) * 0.05 + (i % v === bias ? 1 : 0);
      }
      return blockLogits(out, s.noise.blockLength, v);
    });
  }
}

const base: GenerationRequest = { prompt: [1, 2, 3], steps: 12, maxTokens: 50, seed: 7, stopAtEos: false };

describe('pinned outputs at vocabulary 4096', () => {
  it('noisy simplex: pure noise, single and multi-hot estimates', () => {
    const recipe = { seed: 2 ** 40 + 3, block: 2, step: 0, steps: 20, estimate: null, blockLength: 25 };
    const estimate = Array.from({ length: 25 }, (_, p) => (p % 3 === 0 ? [p * 150, p * 150 + 1, 4095] : [p * 160]));
    expect([
      digest(noisySimplex(recipe, 4096, 5)),
      digest(noisySimplex({ ...recipe, step: 7, estimate }, 4096, 5)),
      digest(noisySimplex({ ...recipe, step: 19, estimate, blockLength: 3 }, 4096, 5)),
    ]).toEqual(['b3aeaa64', '790bf2ab', '590f0163']);
  });

  const cases: [string, number, number | null, Partial<GenerationRequest>, string][] = [
    [
      'sampling through the wire form, confident early stopping',
      1.5,
      32,
      { projection: 'sample', topP: 0.95, earlyStopPatience: 2 },
      '8cdcd64b:23',
    ],
    ['sampling on near-uniform raw rows', 0.15, null, { projection: 'sample', topP: 0.95, earlyStopPatience: 0 }, 'c1fae82a:24'],
    [
      'sampling through the wire form on near-uniform rows, min tokens',
      0.15,
      32,
      { projection: 'sample', topP: 0.9, minTokens: 30, earlyStopPatience: 3, earlyStopConfidence: 0.01 },
      'b2859a9f:24',
    ],
    ['multi-hot on raw rows', 0.6, null, { projection: 'multihot', topP: 0.5, earlyStopPatience: 0 }, 'cd5edca3:24'],
    ['greedy without self-conditioning', 1, 32, { projection: 'greedy', selfConditioning: false, earlyStopPatience: 2 }, '2b07930b:24'],
  ];
  for (const [name, sharpness, k, options, expected] of cases) {
    it(name, async () => {
      const echo = new NoiseEchoDenoiser(sharpness);
      const r = await generateAll({ core: k === null ? echo : wireView(echo, k) }, { ...base, ...options });
      expect(`${digest(r.tokens)}:${r.stepsRun}`).toBe(expected);
    });
  }

  it('collaboration: a user model mixed in through the wire form, λ ramp, confident early stopping', async () => {
    const user = new NoiseEchoDenoiser(0.4);
    const userModel: Denoiser = { info: { ...info, role: 'user', name: 'echo-user' }, denoise: (steps) => user.denoise(steps) };
    const r = await generateAll(
      { core: wireView(new NoiseEchoDenoiser(1.2), 32), user: wireView(userModel, 32) },
      {
        ...base,
        userContext: [9, 9],
        lambda: { start: 0.2, end: 0.7 },
        projection: 'sample',
        topP: 0.9,
        earlyStopPatience: 2,
        earlyStopConfidence: 0.3,
      },
    );
    expect(`${digest(r.tokens)}:${r.stepsRun}`).toBe('76f5de6e:24');
  });
});
