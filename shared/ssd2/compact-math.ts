import { topKOf, type TopKLogits } from './compact';
import { NUCLEUS_CANDIDATES, tempered, temperatureOf, type ProjectionOptions } from './projection';
import { NoiseStream, streamKey, uniformAt } from './noise';
import type { BlockLogits, Estimate } from './types';

/**
 * The step math of `referenceStepMath` computed from compact logits alone (the top k of each row
 * and a floor for every other id: what the wire and a worker's `wireView` carry): O(B·k) work and
 * memory per step instead of O(B·V), with the same results to the bit as over the densified rows.
 * A row is kept as its listed ids in ascending order with their float32 values, and the floor that
 * every unlisted id has; each function below does what its dense counterpart does on the row
 * `densify` would give, in the same order of floating-point operations.
 */
interface Row {
  /** Listed ids, ascending. */
  ids: number[];
  /** Their values (float32, as a Float32Array would hold them). */
  values: number[];
  /** The value of every id not listed. */
  floor: number;
}

const f32 = Math.fround;

function rowsOf(t: TopKLogits): Row[] {
  const rows: Row[] = [];
  for (let p = 0; p < t.length; p++) {
    const order = Array.from({ length: t.k }, (_, j) => p * t.k + j).sort((a, b) => t.ids[a] - t.ids[b]);
    rows.push({ ids: order.map((i) => t.ids[i]), values: order.map((i) => t.values[i]), floor: t.floors[p] });
  }
  return rows;
}

/** Visits the row's runs of equal values in id order (as a dense scan meets them): value and length. */
function forEachRun(row: Row, vocabSize: number, visit: (value: number, count: number) => void): void {
  let runValue = NaN;
  let count = 0;
  const add = (value: number, n: number) => {
    if (n === 0) return;
    if (count > 0 && value === runValue) {
      count += n;
      return;
    }
    if (count > 0) visit(runValue, count);
    runValue = value;
    count = n;
  };
  let next = 0;
  for (let j = 0; j < row.ids.length; j++) {
    add(row.floor, row.ids[j] - next);
    add(row.values[j], 1);
    next = row.ids[j] + 1;
  }
  add(row.floor, vocabSize - next);
  if (count > 0) visit(runValue, count);
}

/** `sumExpRow` of the dense row. */
function sumExp(row: Row, vocabSize: number, max: number): number {
  let sum = 0;
  forEachRun(row, vocabSize, (value, count) => {
    sum += Math.exp(value - max) * count;
  });
  return sum;
}

const hasFloor = (row: Row, vocabSize: number) => row.ids.length < vocabSize;

/** Math.max over the row (NaN wins, as in `logSoftmax`). */
function maxOf(row: Row, vocabSize: number): number {
  let max = hasFloor(row, vocabSize) ? row.floor : -Infinity;
  for (const x of row.values) max = Math.max(max, x);
  return max;
}

/** `logSoftmax`'s normaliser of the dense row. */
function logSumExp(row: Row, vocabSize: number): number {
  const max = maxOf(row, vocabSize);
  return max + Math.log(sumExp(row, vocabSize, max));
}

/** `mixLogits` on compact rows: the union of their listed ids, and the mixed floor for the rest. */
function mixRows(core: Row, user: Row, lambda: number, vocabSize: number): Row {
  const lc = logSumExp(core, vocabSize);
  const lu = logSumExp(user, vocabSize);
  const mix = (c: number, u: number) => f32((1 - lambda) * f32(c - lc) + lambda * f32(u - lu));
  const ids: number[] = [];
  const values: number[] = [];
  let i = 0;
  let j = 0;
  while (i < core.ids.length || j < user.ids.length) {
    const a = i < core.ids.length ? core.ids[i] : Infinity;
    const b = j < user.ids.length ? user.ids[j] : Infinity;
    const id = Math.min(a, b);
    ids.push(id);
    values.push(mix(a === id ? core.values[i++] : core.floor, b === id ? user.values[j++] : user.floor));
  }
  return { ids, values, floor: mix(core.floor, user.floor) };
}

/** `suppressEarlyEos` on one row: EOS becomes listed at -Infinity. */
function withoutEos(row: Row, eos: number): Row {
  const ids = [...row.ids];
  const values = [...row.values];
  let at = 0;
  while (at < ids.length && ids[at] < eos) at++;
  if (ids[at] === eos) values[at] = -Infinity;
  else ids.splice(at, 0, eos), values.splice(at, 0, -Infinity);
  return { ids, values, floor: row.floor };
}

/** The smallest id not listed (the first id holding the floor). */
function firstUnlisted(row: Row): number {
  let id = 0;
  for (const listed of row.ids) {
    if (listed !== id) break;
    id++;
  }
  return id;
}

/** `argmaxRow`: the lowest id holding the largest value (NaN never wins; 0 when nothing beats -Infinity). */
function argmax(row: Row, vocabSize: number): number {
  let best = 0;
  let bestValue = -Infinity;
  const consider = (id: number, x: number) => {
    if (x > bestValue || (x === bestValue && bestValue !== -Infinity && id < best)) {
      bestValue = x;
      best = id;
    }
  };
  for (let j = 0; j < row.ids.length; j++) consider(row.ids[j], row.values[j]);
  if (hasFloor(row, vocabSize)) consider(firstUnlisted(row), row.floor);
  return best;
}

/** `topProbability` of one row: 1 / Σ exp(x - max), max taken with `>`. */
function topProbability(row: Row, vocabSize: number): number {
  let max = -Infinity;
  for (const x of row.values) if (x > max) max = x;
  if (hasFloor(row, vocabSize) && row.floor > max) max = row.floor;
  return 1 / sumExp(row, vocabSize, max);
}

/**
 * The row's capped nucleus (`nucleus` with NUCLEUS_CANDIDATES): ids by probability descending,
 * then id, up to the first whose running mass reaches topP, at most NUCLEUS_CANDIDATES of them,
 * with their probabilities. The floor's ids are visited only as far as the list reaches.
 */
function cappedNucleus(row: Row, vocabSize: number, topP: number): { ids: number[]; probs: number[] } {
  let max = -Infinity;
  for (const x of row.values) max = Math.max(max, x);
  if (hasFloor(row, vocabSize)) max = Math.max(max, row.floor);
  const sum = sumExp(row, vocabSize, max);
  const lowest = topP >= 1 ? -Infinity : sum * 1e-13;
  const listed = row.ids.map((id, j) => ({ id, p: Math.exp(row.values[j] - max) }));
  listed.sort((a, b) => b.p - a.p || a.id - b.id);
  const pf = Math.exp(row.floor - max);
  const floorIds = unlistedIds(row, vocabSize);
  const ids: number[] = [];
  const probs: number[] = [];
  let mass = 0;
  // Returns true once the list is complete.
  const take = (id: number, p: number) => {
    if (!(p >= lowest)) return true;
    ids.push(id);
    probs.push(p / sum);
    mass += p / sum;
    return mass >= topP || ids.length === NUCLEUS_CANDIDATES;
  };
  let i = 0;
  const floorLeft = () => hasFloor(row, vocabSize);
  for (; i < listed.length && (!floorLeft() || listed[i].p > pf); i++) if (take(listed[i].id, listed[i].p)) return { ids, probs };
  if (floorLeft()) {
    // The ids at the floor's probability, listed or not, in id order.
    let next = floorIds.next();
    while (!next.done || (i < listed.length && listed[i].p === pf)) {
      const fromListed = i < listed.length && listed[i].p === pf && (next.done || listed[i].id < next.value);
      const id = fromListed ? listed[i++].id : (next.value as number);
      if (!fromListed) next = floorIds.next();
      if (take(id, pf)) return { ids, probs };
    }
  }
  for (; i < listed.length; i++) if (take(listed[i].id, listed[i].p)) return { ids, probs };
  return { ids, probs };
}

function* unlistedIds(row: Row, vocabSize: number): Generator<number> {
  let j = 0;
  for (let id = 0; id < vocabSize; id++) {
    if (j < row.ids.length && row.ids[j] === id) {
      j++;
      continue;
    }
    yield id;
  }
}

/** `project` on compact rows. */
function projectRows(rows: readonly Row[], vocabSize: number, opts: ProjectionOptions): Estimate {
  const key = opts.kind === 'sample' ? streamKey({ seed: opts.seed, block: opts.block, step: opts.step, stream: NoiseStream.sampling }) : 0;
  const t = temperatureOf(opts);
  // `project` divides the dense row: every listed value and the floor, as the densified row holds them.
  const scaled = (row: Row): Row =>
    t === 1 ? row : { ids: row.ids, values: row.values.map((x) => tempered(x, t)), floor: tempered(row.floor, t) };
  return rows.map((row, p) => {
    if (opts.kind === 'greedy') return [argmax(row, vocabSize)];
    const { ids, probs } = cappedNucleus(scaled(row), vocabSize, opts.topP);
    if (opts.kind === 'multihot') return ids;
    // `sampleNucleus`: the walk over the list with a seeded uniform, the list's last id if none is reached.
    let total = 0;
    for (const q of probs) total += q;
    let u = uniformAt(key, p) * total;
    for (let j = 0; j < ids.length; j++) {
      u -= probs[j];
      if (u <= 0) return [ids[j]];
    }
    return [ids[ids.length - 1]];
  });
}

/**
 * Whether the row's softmax is a number: no NaN, no +Infinity and something above -Infinity (the
 * dense path orders other rows by a full sort).
 */
function summable(row: Row, vocabSize: number): boolean {
  return Number.isFinite(maxOf(row, vocabSize));
}

/** One step's outcome computed from compact rows. */
export interface CompactStep {
  argmax: number[];
  topProbability(p: number): number;
  estimate(opts: ProjectionOptions): Estimate;
}

/**
 * The step math over compact rows when the core's logits (and the user model's, when mixed in) are
 * compact blocks; null otherwise, or when a row's softmax is not a number.
 */
export function compactStep(
  core: BlockLogits,
  user: BlockLogits | undefined,
  lambda: number,
  eos: number,
  suppressEos: number,
): CompactStep | null {
  const c = topKOf(core);
  // λ = 0 leaves the core's logits as they are, as `mixLogits` does.
  const mixing = user !== undefined && lambda !== 0;
  const u = mixing ? topKOf(user) : undefined;
  if (!c || (mixing && !u)) return null;
  const vocabSize = c.vocabSize;
  let rows = rowsOf(c);
  if (u) {
    const ur = rowsOf(u);
    rows = rows.map((row, p) => mixRows(row, ur[p], lambda, vocabSize));
  }
  rows = rows.map((row, p) => (p < suppressEos ? withoutEos(row, eos) : row));
  if (!rows.every((row) => summable(row, vocabSize))) return null;
  return {
    argmax: rows.map((row) => argmax(row, vocabSize)),
    topProbability: (p) => topProbability(rows[p], vocabSize),
    estimate: (opts) => projectRows(rows, vocabSize, opts),
  };
}
