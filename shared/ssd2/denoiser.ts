import type { BlockSchedule } from './schedule';
import type { NoisyBlockRecipe } from './simplex';
import type { BlockLogits } from './types';

/** What the engine needs to know about a model; bundles fill it from their manifest. */
export interface DenoiserInfo {
  readonly name: string;
  readonly role: 'core' | 'user';
  readonly vocabSize: number;
  readonly blockSize: number;
  /** Longest clean context (tokens) the block may be conditioned on. */
  readonly maxContext: number;
  readonly simplexK: number;
  readonly schedule: string;
  readonly tTrain: number;
  /** The checkpoint serves steps with lo < t/T <= hi. */
  readonly timestepRange: readonly [number, number];
  readonly selfConditioning: boolean;
  readonly eosTokenId: number;
  /** sha256 of tokenizer.json: models that collaborate must share it. */
  readonly tokenizerSha256: string;
  /** 'shifted': position 0 is read out from the last context token, so the context must not be empty (absent: aligned). */
  readonly readout?: 'aligned' | 'shifted';
  /** How the block's positions share the noise level (absent: shared, SSD-2's one timestep per block). */
  readonly blockSchedule?: BlockSchedule;
}

/** One denoising step for one block. Everything needed is in the request: denoisers keep no
 * per-generation state (any cache they hold is keyed by content). */
export interface DenoiseStep {
  /** Clean tokens before the block, as this model sees them. */
  readonly context: readonly number[];
  /** Recipe of the noisy simplex: (seed, block, step) noise plus the previous estimate. */
  readonly noise: NoisyBlockRecipe;
  /** This model's raw logits from the previous step (self-conditioning); null at the first. */
  readonly selfCond: BlockLogits | null;
  /**
   * The caller reads only the top `topK` logits of each row and a floor (the wire form, see
   * shared/ssd2/compact.ts): a denoiser may return a compact block computed next to the logits.
   */
  readonly topK?: number;
}

/**
 * The one interface the block loop talks to: a local onnxruntime session, a remote GPU worker, or
 * a client's user model all implement it. `denoise` takes a batch and returns logits per item.
 */
export interface Denoiser {
  readonly info: DenoiserInfo;
  denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]>;
}
