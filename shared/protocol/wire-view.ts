import type { DenoiseStep, Denoiser } from '../ssd2/denoiser';
import type { BlockLogits } from '../ssd2/types';
import { lambdaAlwaysZero, type LambdaSchedule } from '../ssd2/mixing';
import { roundTripLogits } from './compact-logits';

/**
 * A denoiser as a remote client sees it: every block of logits passes through the compact wire
 * form with the given k. A worker's fused loop runs its models through this view, so a fused
 * generation gives exactly the tokens of the same generation driven step by step over HTTP.
 */
export function wireView(inner: Denoiser, k: number): Denoiser {
  return {
    info: inner.info,
    async denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]> {
      // A denoiser that can compacts next to the logits (a graph); otherwise it happens here.
      const out = await inner.denoise(steps.map((s) => ({ ...s, topK: k })));
      // Bit-identical to densifyLogits(compactLogits(l, k)), without the base64 in between.
      return out.map((l) => roundTripLogits(l, k));
    },
  };
}

/**
 * The models a worker's fused generation decodes from. The core alone: its wire view, so the
 * generation gives exactly the text of the same one driven step by step. With a user model beside
 * it on the worker: both models' full logits, mixed over the whole vocabulary as SSD-2's formula
 * says (nothing crosses a wire; a top-k of each would lose the tokens only one model ranks high);
 * at λ 0 throughout, the wire views, so the text is the core's alone to the bit. `core` may be
 * the checkpoints timestep routing picks from.
 */
export function fusedModels<C extends Denoiser | readonly Denoiser[]>(
  core: C,
  user: Denoiser | undefined,
  k: number,
  lambda: LambdaSchedule | undefined,
): { core: C; user?: Denoiser } {
  if (user && !lambdaAlwaysZero(lambda)) return { core, user };
  const view = (d: Denoiser) => wireView(d, k);
  const cores = (Array.isArray(core) ? core.map(view) : view(core as Denoiser)) as unknown as C;
  return user ? { core: cores, user: view(user) } : { core: cores };
}
