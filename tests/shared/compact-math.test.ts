import { describe, expect, it, vi } from 'vitest';
import {
  compactBlock,
  denseStepMath,
  referenceStepMath,
  type BlockLogits,
  type ProjectionKind,
  type StepMathInput,
  type TopKLogits,
} from '../../shared/ssd2';

/** A seeded generator (mulberry32), so every fixture is the same on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Shape = 'peaked' | 'flat' | 'ties' | 'full';

/**
 * Compact logits as a worker sends them: per row k distinct ids, values descending, a floor below.
 * 'flat': the floor sits just under the listed values (a high-noise row: the nucleus runs deep into
 * the unlisted ids); 'ties': listed values repeat and some equal the floor; 'full': k = V.
 */
function compact(seed: number, length: number, vocabSize: number, k: number, shape: Shape): TopKLogits {
  const r = rng(seed);
  const kk = shape === 'full' ? vocabSize : k;
  const ids = new Uint32Array(length * kk);
  const values = new Float32Array(length * kk);
  const floors = new Float32Array(length);
  for (let p = 0; p < length; p++) {
    const chosen = new Set<number>();
    while (chosen.size < kk) chosen.add(Math.floor(r() * vocabSize));
    const row = [...chosen];
    const top = 2 + r() * 8;
    const vals = row.map(() => Math.fround(shape === 'flat' ? top - r() * 0.05 : top - r() * 6)).sort((a, b) => b - a);
    if (shape === 'ties') for (let j = 1; j < kk; j += 3) vals[j] = vals[j - 1];
    const floor = shape === 'flat' ? Math.fround(top - 0.1) : Math.fround(vals[kk - 1] - 1 - r() * 3);
    if (shape === 'ties') vals[kk - 1] = floor;
    floors[p] = shape === 'full' ? -Infinity : floor;
    row.forEach((id, j) => {
      ids[p * kk + j] = id;
      values[p * kk + j] = vals[j];
    });
  }
  return { length, vocabSize, k: kk, ids, values, floors };
}

async function both(input: StepMathInput) {
  const out = [];
  for (const math of [referenceStepMath, denseStepMath]) {
    const r = await math.run(input);
    out.push({ argmax: r.argmax, top: r.argmax.map((_, p) => r.topProbability(p)), estimate: r.estimate() });
  }
  return out;
}

describe('step math on compact logits (O(B·k))', () => {
  const cases: [Shape, number][] = [
    ['peaked', 4096],
    ['flat', 4096],
    ['ties', 4096],
    ['peaked', 50257],
    ['flat', 50257],
    ['full', 64],
  ];
  for (const [shape, vocabSize] of cases) {
    it(`equals the dense step math to the bit: ${shape} rows, V ${vocabSize}`, async () => {
      for (let seed = 1; seed <= 3; seed++) {
        for (const kind of ['greedy', 'sample', 'multihot'] as ProjectionKind[]) {
          for (const topP of [0.9, 0.95, 1]) {
            for (const withUser of [false, true]) {
              const core = compactBlock(compact(seed, 6, vocabSize, 32, shape));
              const user = withUser ? compactBlock(compact(seed + 100, 6, vocabSize, 24, shape)) : undefined;
              const input: StepMathInput = {
                core,
                user,
                lambda: 0.35,
                eosTokenId: vocabSize - 1 - seed,
                suppressEos: seed,
                // A temperature per seed: the nucleus of logits / temperature, listed values and floor divided alike.
                projection: { kind, topP, temperature: [1, 0.6, 1.7][seed - 1], seed: 7 + seed, block: 2, step: 3 },
              };
              const [fast, dense] = await both(input);
              expect(fast.argmax).toEqual(dense.argmax);
              expect(fast.top).toEqual(dense.top);
              expect(fast.estimate).toEqual(dense.estimate);
            }
          }
        }
      }
    });
  }

  it('a flat row samples and spreads over the unlisted ids, capped at the nucleus candidates', async () => {
    const t = compact(5, 4, 50257, 32, 'flat');
    const core = compactBlock(t);
    const base = { core, lambda: 0, eosTokenId: 50256, suppressEos: 0 };
    const multihot = await referenceStepMath.run({ ...base, projection: { kind: 'multihot', topP: 0.95, seed: 1, block: 0, step: 0 } });
    for (const ids of multihot.estimate()) expect(ids.length).toBe(512);
    const sampled = await referenceStepMath.run({ ...base, projection: { kind: 'sample', topP: 0.95, seed: 1, block: 0, step: 0 } });
    const listed = new Set(t.ids);
    expect(sampled.estimate().some(([id]) => !listed.has(id))).toBe(true);
  });

  it('never reads the dense rows of compact blocks', async () => {
    const core = compactBlock(compact(9, 25, 50257, 32, 'peaked'));
    const user = compactBlock(compact(10, 25, 50257, 32, 'peaked'));
    const spies = [vi.spyOn(core, 'data', 'get'), vi.spyOn(user, 'data', 'get')];
    const r = await referenceStepMath.run({
      core,
      user,
      lambda: 0.5,
      eosTokenId: 50256,
      suppressEos: 25,
      projection: { kind: 'sample', topP: 0.95, seed: 3, block: 0, step: 0 },
    });
    r.topProbability(0);
    expect(r.estimate()).toHaveLength(25);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  });

  it('falls back to the dense rows when the user model is dense, and where a row holds NaN', async () => {
    const core = compactBlock(compact(11, 2, 4096, 32, 'peaked'));
    const dense: BlockLogits = { length: 2, vocabSize: 4096, data: new Float32Array(core.data) };
    const projection = { kind: 'sample' as const, topP: 0.9, seed: 1, block: 0, step: 0 };
    const [fast, slow] = await both({ core, user: dense, lambda: 0.5, eosTokenId: 0, suppressEos: 0, projection });
    expect(fast).toEqual(slow);
    const t = compact(12, 2, 4096, 32, 'peaked');
    t.values[3] = Number.NaN;
    const [a, b] = await both({ core: compactBlock(t), lambda: 0, eosTokenId: 0, suppressEos: 0, projection });
    expect(a.argmax).toEqual(b.argmax);
    expect(a.estimate).toEqual(b.estimate);
  });
});
