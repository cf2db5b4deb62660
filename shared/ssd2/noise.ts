/**
 * Counter-based Gaussian noise: value i of the stream (seed, block, step) is a pure function of
 * those numbers, so any stateless GPU worker or client regenerates exactly the noisy block the
 * engine would, with no RNG state to ship. 32-bit integer hashing (Math.imul) is exact in every
 * JS runtime; Box–Muller uses Math.log/cos/sin, identical across V8 hosts (Node, workerd, Chrome).
 */

export const NoiseStream = { simplex: 0, sampling: 1, table: 2 } as const;
export type NoiseStreamId = (typeof NoiseStream)[keyof typeof NoiseStream];

export interface NoiseKey {
  seed: number; // non-negative safe integer
  block: number;
  step: number;
  stream?: NoiseStreamId;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function combine(h: number, v: number): number {
  return fmix32((h ^ Math.imul(v >>> 0, 0x9e3779b1)) + 0x7f4a7c15);
}

/** A 32-bit key for one (seed, block, step, stream); counters are hashed against it. */
export function streamKey({ seed, block, step, stream = NoiseStream.simplex }: NoiseKey): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  return combine(combine(combine(combine(combine(0x5eed5eed, lo), hi), block), step), stream);
}

/** Uniform in (0,1) for counter i under `key`. */
export function uniformAt(key: number, i: number): number {
  const bits = fmix32(Math.imul(i + 1, 0x9e3779b9) ^ key ^ fmix32(i ^ 0x2545f491));
  return ((bits >>> 8) + 0.5) / 16777216;
}

/**
 * Fills `out` with N(0, sd²) samples of the stream; sample i depends only on (key, i).
 * With `scale`/`shift`, stores each float32 sample x as x * scale - shift (rounded to float32
 * once more), exactly what a second pass over `out` would give, without that pass.
 */
export function fillGaussian(out: Float32Array, key: NoiseKey, sd = 1, scale = 1, shift = 0): Float32Array {
  const k = streamKey(key);
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    const u1 = uniformAt(k, i);
    const u2 = uniformAt(k, i + 1);
    const radius = sd * Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    out[i] = Math.fround(radius * Math.cos(angle)) * scale - shift;
    if (i + 1 < n) out[i + 1] = Math.fround(radius * Math.sin(angle)) * scale - shift;
  }
  return out;
}

/** Entries of the Gaussian table noisy blocks read from: 2^22 float32 values (16 MiB). */
export const NOISE_TABLE_SIZE = 1 << 22;
/** The widest row (vocabulary) a table window serves: a quarter of the table, so windows rarely overlap. */
const MAX_NOISE_ROW = NOISE_TABLE_SIZE >> 2;
let table: Float32Array | null = null;

/**
 * The table of N(0, 1) values every noisy block reads from: the counter-based stream of one fixed
 * key, drawn once per process. A block row's noise is a window of it (`noiseOffset`), so a graph on
 * an accelerator that holds the same table draws the same noise with one gather.
 */
export function noiseTable(): Float32Array {
  table ??= fillGaussian(new Float32Array(NOISE_TABLE_SIZE), { seed: 0x55d2, block: 0, step: 0, stream: NoiseStream.table });
  return table;
}

/** Row windows start at multiples of this many entries, so a graph gathers a row as whole chunks of the table. */
export const NOISE_ROW_STRIDE = 64;

/**
 * Where row `row` of the noisy block (seed, block, step) starts in the noise table: a pure
 * function of those numbers, a multiple of NOISE_ROW_STRIDE, uniform over the starts that leave
 * `width` entries (rounded up to whole chunks).
 */
export function noiseOffset(key: NoiseKey, row: number, width: number): number {
  if (width > MAX_NOISE_ROW) throw new RangeError(`a noise row of ${width} entries exceeds the table's ${MAX_NOISE_ROW}`);
  const k = streamKey({ ...key, stream: NoiseStream.simplex });
  const bits = fmix32(Math.imul(row + 1, 0x9e3779b9) ^ k ^ fmix32(row ^ 0x6a09e667));
  const chunks = Math.ceil(width / NOISE_ROW_STRIDE);
  return NOISE_ROW_STRIDE * (bits % (NOISE_TABLE_SIZE / NOISE_ROW_STRIDE - chunks + 1));
}
