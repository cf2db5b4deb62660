import { blockLogits, type BlockLogits, type DenoiseStep, type Denoiser, type DenoiserInfo } from '../../shared/ssd2';

/**
 * A deterministic Denoiser for testing the block loop's control flow (EOS, limits, routing,
 * mixing, early stopping) without a network. It favours `prefer(request, position)` by a logit
 * margin of `margin(request, position)` (default 10: a top probability of 0.9997 over 8 tokens).
 */
export class ScriptedDenoiser implements Denoiser {
  readonly info: DenoiserInfo;
  readonly calls: DenoiseStep[] = [];

  constructor(
    info: Partial<DenoiserInfo>,
    private readonly prefer: (req: DenoiseStep, position: number) => number,
    private readonly margin: (req: DenoiseStep, position: number) => number = () => 10,
  ) {
    this.info = {
      name: 'scripted',
      role: 'core',
      vocabSize: 8,
      blockSize: 4,
      maxContext: 64,
      simplexK: 5,
      schedule: 'cosine',
      tTrain: 5000,
      timestepRange: [0, 1],
      selfConditioning: true,
      eosTokenId: 7,
      tokenizerSha256: 'x'.repeat(64),
      ...info,
    };
  }

  async denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]> {
    return steps.map((req) => {
      this.calls.push(req);
      const { blockLength } = req.noise;
      const v = this.info.vocabSize;
      const data = new Float32Array(blockLength * v);
      for (let p = 0; p < blockLength; p++) data[p * v + this.prefer(req, p)] = this.margin(req, p);
      return blockLogits(data, blockLength, v);
    });
  }
}
