import { z } from 'zod';

/**
 * Cosine noise schedule (SSD-LM): abar(t) = r(t)/r(0), r(t) = cos²(((t/T)+s)/(1+s)·π/2), s = 1e-4.
 * Decoding with fewer steps than T_train passes T_dec as T (SSD-LM decode): abar is recomputed on
 * the coarser grid and the timestep feature is t/T_dec.
 */
const S = 1e-4;

function r(t: number, T: number): number {
  return Math.cos(((t / T + S) / (1 + S)) * (Math.PI / 2)) ** 2;
}

export function alphaBar(t: number, T: number): number {
  if (t <= 0) return 1;
  if (t >= T) return 0; // cos(π/2) is ~6e-17 in floating point; the schedule means pure noise
  return r(t, T) / r(0, T);
}

/** Step index s = 0..steps-1 of a block's loop runs at timestep t = steps - s. */
function timestepAt(step: number, steps: number): number {
  return steps - step;
}

/** The model's timestep feature t/T for loop step s. */
export function timestepFraction(step: number, steps: number): number {
  return timestepAt(step, steps) / steps;
}

/**
 * How a block's positions share the noise level (a bundle's `block_schedule`). `shared` (SSD-2): at
 * loop step s every position is at t = steps - s. `staggered`: position j runs its own `window`
 * steps from pure noise to clean, starting at step round(j · (steps - window) / (B - 1)): earlier
 * positions denoise first (as in AR-Diffusion), a position before its window is pure noise and one
 * after it is clean. The model then takes a timestep per position. `stride`: the steps between two
 * positions' window starts at the default steps per block (absent: the window, so the windows
 * follow one another; smaller: they overlap, for a model trained on overlapping windows).
 */
export const BlockScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('shared') }),
  z.object({ kind: z.literal('staggered'), window: z.number().int().min(1), stride: z.number().int().min(1).optional() }),
]);
export type BlockSchedule = z.output<typeof BlockScheduleSchema>;

export const SHARED_SCHEDULE: BlockSchedule = { kind: 'shared' };

/** Per block position at loop step s: the model's timestep feature t/T and the signal level abar. */
export interface PositionNoise {
  fractions: number[];
  alphaBars: number[];
}

/** The loop step at which position j's window of a staggered schedule starts. */
function windowStart(j: number, steps: number, blockLength: number, window: number): number {
  return blockLength > 1 ? Math.round((j * (steps - window)) / (blockLength - 1)) : 0;
}

export function positionNoise(step: number, steps: number, blockLength: number, schedule: BlockSchedule = SHARED_SCHEDULE): PositionNoise {
  if (schedule.kind === 'shared') {
    const fraction = timestepFraction(step, steps);
    const ab = alphaBar(timestepAt(step, steps), steps);
    return { fractions: new Array<number>(blockLength).fill(fraction), alphaBars: new Array<number>(blockLength).fill(ab) };
  }
  const window = Math.min(schedule.window, steps);
  const fractions: number[] = [];
  const alphaBars: number[] = [];
  for (let j = 0; j < blockLength; j++) {
    const local = step - windowStart(j, steps, blockLength, window);
    // Before its window a position is pure noise (t = T), after it clean (t = 0).
    const t = local < 0 ? window : local >= window ? 0 : window - local;
    fractions.push(t / window);
    alphaBars.push(alphaBar(t, window));
  }
  return { fractions, alphaBars };
}

/**
 * How many leading positions of the block are clean at loop step s (past their window under a
 * staggered schedule; none under the shared one, whose last step is still at t = 1). A clean
 * position's tokens are final: its noisy simplex is exactly its ±K estimate, whose evidence
 * outweighs any prior, and with causal attention nothing after it reaches it.
 */
export function cleanPrefix(step: number, steps: number, blockLength: number, schedule: BlockSchedule = SHARED_SCHEDULE): number {
  let clean = 0;
  while (clean < blockLength && (positionWindow(clean, steps, blockLength, schedule)?.cleanFrom ?? Infinity) <= step) clean++;
  return clean;
}

/**
 * Under a staggered schedule, the loop step from which block position j is clean (its window's
 * end; `steps` or more: not within the loop), and the step its window starts. Under the shared
 * schedule no position is clean within the loop: null.
 */
export function positionWindow(
  j: number,
  steps: number,
  blockLength: number,
  schedule: BlockSchedule,
): { start: number; cleanFrom: number } | null {
  if (schedule.kind === 'shared') return null;
  const window = Math.min(schedule.window, steps);
  const start = windowStart(j, steps, blockLength, window);
  return { start, cleanFrom: start + window };
}

/**
 * Where the loop goes when it commits the leading noisy position (the first `clean` positions are
 * clean) at loop step s, keeping its estimate from then on: the step from which the schedule makes
 * that position clean, or `steps` (the block is done) when it is the last of the `kept` positions
 * the block keeps. Null when the position cannot be committed at s: the shared schedule (no
 * windows), a position whose window has not started, or windows that overlap (fewer steps than
 * window × B), where the jump would cut the next position's window short.
 */
export function commitJump(
  step: number,
  steps: number,
  clean: number,
  kept: number,
  blockLength: number,
  schedule: BlockSchedule = SHARED_SCHEDULE,
): number | null {
  const window = positionWindow(clean, steps, blockLength, schedule);
  if (!window || window.start > step) return null;
  if (clean + 1 >= kept) return steps;
  const following = positionWindow(clean + 1, steps, blockLength, schedule)!;
  return following.start < window.cleanFrom ? null : Math.max(step + 1, window.cleanFrom);
}
