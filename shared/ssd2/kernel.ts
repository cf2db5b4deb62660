import { compactStep } from './compact-math';
import { topProbability } from './early-stop';
import { mixLogits } from './mixing';
import { argmaxTokens, project, type ProjectionOptions } from './projection';
import { blockLogits, type BlockLogits, type Estimate } from './types';

/** What a denoising step does with the models' logits (the block loop's per-step math). */
export interface StepMathInput {
  core: BlockLogits;
  /** The user model's logits, mixed in with weight `lambda` (absent: core only). */
  user?: BlockLogits;
  lambda: number;
  eosTokenId: number;
  /** EOS is suppressed at the block's first `suppressEos` positions (min_tokens). */
  suppressEos: number;
  projection: ProjectionOptions;
}

/** The step's outcome: O(block) numbers, whatever the vocabulary. */
export interface StepMathResult {
  /** Argmax token per position of the mixed logits. */
  argmax: number[];
  /** The top token's probability at position p (for early stopping; computed when asked). */
  topProbability(p: number): number;
  /** The projection of the mixed logits (the next step's estimate). */
  estimate(): Estimate;
}

/**
 * Mixing, EOS suppression, argmax, the top-token probabilities and the projection of one step.
 * `referenceStepMath` computes them in TypeScript; a runtime may compute them where the logits
 * are (shared/runtime's graph kernel runs them inside onnxruntime), with the same results.
 */
export interface StepMath {
  run(input: StepMathInput): Promise<StepMathResult>;
}

/** Sets EOS to -Infinity at the block's first `positions` positions (min_tokens); a copy, never in place. */
export function suppressEarlyEos(logits: BlockLogits, eos: number, positions: number): BlockLogits {
  if (positions <= 0) return logits;
  const data = logits.data.slice();
  for (let p = 0; p < Math.min(positions, logits.length); p++) data[p * logits.vocabSize + eos] = -Infinity;
  return blockLogits(data, logits.length, logits.vocabSize);
}

/**
 * The step math in TypeScript: the engine's reference. Over dense rows it reads B x V values; when
 * the logits are compact blocks (a remote worker's or a client's wire form, a worker's `wireView`)
 * it reads only their top k and floors (shared/ssd2/compact-math.ts), with the same results.
 */
export const referenceStepMath: StepMath = {
  async run({ core, user, lambda, eosTokenId, suppressEos, projection }) {
    const compact = compactStep(core, user, lambda, eosTokenId, suppressEos);
    if (compact) return { ...compact, estimate: () => compact.estimate(projection) };
    return denseStepMath.run({ core, user, lambda, eosTokenId, suppressEos, projection });
  },
};

/** The step math over dense rows (compact blocks are densified on read). */
export const denseStepMath: StepMath = {
  async run({ core, user, lambda, eosTokenId, suppressEos, projection }) {
    const mixed = suppressEarlyEos(user ? mixLogits(core, user, lambda) : core, eosTokenId, suppressEos);
    // Early stopping and the commit rule may both ask for a row: each is read once.
    const tops: number[] = [];
    return {
      argmax: argmaxTokens(mixed),
      topProbability: (p) => (tops[p] ??= topProbability(mixed, p)),
      estimate: () => project(mixed, projection),
    };
  },
};
