import { IncompatibleModelsError } from '../errors';
import type { Denoiser, DenoiserInfo } from './denoiser';

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

/** What models that share a noisy block must agree on. */
export type SharedSimplex = Pick<DenoiserInfo, 'vocabSize' | 'tokenizerSha256' | 'simplexK' | 'schedule' | 'blockSchedule'>;

/** A block schedule as messages and comparisons name it. */
const scheduleName = (s: DenoiserInfo['blockSchedule']) => (s?.kind === 'staggered' ? `staggered (window ${s.window})` : 'shared');

/** Each shared property with the manifest field that holds it and the name messages give it. */
const SHARED: readonly { field: string; label: string; of: (m: SharedSimplex) => unknown }[] = [
  { field: 'vocab_size', label: 'vocab_size', of: (m) => m.vocabSize },
  { field: 'tokenizer', label: 'tokenizer.json sha256', of: (m) => m.tokenizerSha256 },
  { field: 'simplex_k', label: 'simplex_k', of: (m) => m.simplexK },
  { field: 'schedule', label: 'schedule', of: (m) => m.schedule },
  { field: 'block_schedule', label: 'block_schedule', of: (m) => scheduleName(m.blockSchedule) },
];

/** The first property `b` does not share with `a` (the models could not mix), or null. */
export function incompatibility(
  a: SharedSimplex,
  b: SharedSimplex,
): { field: string; label: string; expected: unknown; actual: unknown } | null {
  const s = SHARED.find((s) => s.of(a) !== s.of(b));
  return s ? { field: s.field, label: s.label, expected: s.of(a), actual: s.of(b) } : null;
}

/** Models that share a noisy block must share vocabulary, tokenizer, K, the noise schedule and the block schedule. */
export function assertCompatible(a: Denoiser, b: Denoiser, what: string): void {
  const d = incompatibility(a.info, b.info);
  if (d) {
    throw new IncompatibleModelsError(
      `${what} ${b.info.name} does not match ${a.info.name}: ${d.label} ${String(d.actual)} != ${String(d.expected)}`,
      d.field,
    );
  }
}
