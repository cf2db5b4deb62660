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
