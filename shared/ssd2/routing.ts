import { IncompatibleModelsError } from '../errors';
import type { Denoiser } from './denoiser';

/**
 * Routes each step to the timestep-specialised checkpoint whose range holds t/T (SSD-2 §3.1:
 * separate models for (0.4,0.6], (0.6,0.8], (0.8,1.0]); the narrowest matching range wins, so a
 * full-range main model serves everything the specialists do not.
 */
export class TimestepRouter {
  readonly checkpoints: readonly Denoiser[];

  constructor(checkpoints: readonly Denoiser[]) {
    if (checkpoints.length === 0) throw new IncompatibleModelsError('no core model given');
    const [first] = checkpoints;
    for (const c of checkpoints.slice(1)) assertCompatible(first, c, 'timestep-specialised checkpoint');
    this.checkpoints = checkpoints;
    for (const probe of [1, 0.8, 0.6, 0.4, 0.2, 1e-9]) {
      if (!this.tryPick(probe)) {
        throw new IncompatibleModelsError(
          `no checkpoint serves t/T = ${probe}; ranges: ` +
            `${checkpoints.map((c) => `${c.info.name} (${c.info.timestepRange.join(', ')}]`).join('; ')}`,
        );
      }
    }
  }

  private tryPick(fraction: number): Denoiser | undefined {
    let best: Denoiser | undefined;
    for (const c of this.checkpoints) {
      const [lo, hi] = c.info.timestepRange;
      if (fraction > lo && fraction <= hi && (!best || hi - lo < best.info.timestepRange[1] - best.info.timestepRange[0])) best = c;
    }
    return best;
  }

  pick(fraction: number): Denoiser {
    const c = this.tryPick(fraction);
    if (!c) throw new IncompatibleModelsError(`no checkpoint serves t/T = ${fraction}`);
    return c;
  }

  /** The full-range (or widest) checkpoint: its limits bound the generation. */
  get main(): Denoiser {
    return this.checkpoints.reduce((a, b) =>
      b.info.timestepRange[1] - b.info.timestepRange[0] > a.info.timestepRange[1] - a.info.timestepRange[0] ? b : a,
    );
  }
}

/** Models that share a noisy block must share vocabulary, tokenizer, K and schedule. */
export function assertCompatible(a: Denoiser, b: Denoiser, what: string): void {
  const x = a.info;
  const y = b.info;
  const checks: [string, unknown, unknown][] = [
    ['vocab_size', x.vocabSize, y.vocabSize],
    ['tokenizer.json sha256', x.tokenizerSha256, y.tokenizerSha256],
    ['simplex_k', x.simplexK, y.simplexK],
    ['schedule', x.schedule, y.schedule],
  ];
  for (const [field, u, v] of checks) {
    if (u !== v) throw new IncompatibleModelsError(`${what} ${y.name} does not match ${x.name}: ${field} ${String(v)} != ${String(u)}`);
  }
}
