import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  blockLogits,
  generateAll,
  noisySimplex,
  nucleus,
  NUCLEUS_CANDIDATES,
  project,
  referenceStepMath,
  topKLogits,
  type BlockLogits,
  type GenerationRequest,
  type StepMathInput,
  type StepMathResult,
} from '../../shared/ssd2';
import { compactBlock } from '../../shared/ssd2/compact';
import { StepGraphs } from '../../shared/runtime/step-graph-runtime';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import { sessionOptions } from '../../worker-gpu/src/runtime/providers';
import { maxAbsDiff } from '../helpers/tensors';

/**
 * The step graphs against the TypeScript reference they mirror (shared/ssd2): noisy blocks to the
 * bit, the wire form, the step math (mixing, EOS suppression, argmax, top probability, nucleus,
 * sampling), and whole generations of the bundled core + user through either path.
 */

const V = 50257; // GPT-2's vocabulary: the real shape the graphs are for
const options = sessionOptions('cpu');
const graphs = StepGraphs.for(ort, (bytes) => ort.InferenceSession.create(bytes, options), V);

/** Deterministic pseudo-random logits: `scale` sets how peaked the rows are. */
function logits(seed: number, length: number, scale: number): BlockLogits {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return blockLogits(
    Float32Array.from({ length: length * V }, () => (rand() - 0.5) * scale),
    length,
    V,
  );
}

const input = (core: BlockLogits, extra: Partial<StepMathInput> = {}): StepMathInput => ({
  core,
  lambda: 0,
  eosTokenId: V - 1,
  suppressEos: 0,
  projection: { kind: 'greedy', topP: 0.95, seed: 3, block: 1, step: 4 },
  ...extra,
});

describe('step graphs against the TypeScript reference (vocabulary 50257)', () => {
  it('draw the noisy simplex to the bit: pure noise, single and multi-hot estimates, several items', async () => {
    const recipes = [
      { seed: 2 ** 40 + 3, block: 2, step: 0, steps: 20, estimate: null, blockLength: 4 },
      { seed: 7, block: 0, step: 7, steps: 20, estimate: [[5], [50256], [0], [1234]], blockLength: 4 },
      { seed: 7, block: 1, step: 19, steps: 20, estimate: [[5, 6, 7], [9], [100, 200], [3]], blockLength: 4 },
    ];
    const out = (await graphs.noisyBlocks(recipes, 5)).data as Float32Array;
    recipes.forEach((r, i) => expect(out.subarray(i * 4 * V, (i + 1) * 4 * V)).toEqual(noisySimplex(r, V, 5)));
    // A row without ids (a NaN row's empty nucleus) is all −signal, as in the reference.
    const empty = { seed: 7, block: 0, step: 5, steps: 20, estimate: [[3], []], blockLength: 2 };
    expect((await graphs.noisyBlocks([empty], 5)).data).toEqual(noisySimplex(empty, V, 5));
  });

  it('compact a block into the wire form: the same ids and values, floors within 1e-5', async () => {
    const l = logits(1, 3, 8);
    const [graph] = await graphs.compact(new ort.Tensor('float32', l.data, [1, 3, V]), 32);
    const ref = topKLogits(l, 32);
    expect(Array.from(graph.ids)).toEqual(Array.from(ref.ids));
    expect(graph.values).toEqual(ref.values);
    expect(maxAbsDiff(graph.floors, ref.floors)).toBeLessThan(1e-5);
    // ...and densify it back exactly as the TypeScript does.
    const dense = (await graphs.densify([ref])).data as Float32Array;
    expect(dense).toEqual(compactBlock(ref).data);
  });

  it(
    'greedy step math: the same argmax and estimate, top probabilities within 1e-5, with EOS suppressed and a user model mixed ' + 'in',
    async () => {
      const core = logits(2, 5, 6);
      const user = logits(3, 5, 6);
      // EOS the best token of every position, so suppressing it changes the argmax.
      for (let p = 0; p < 5; p++) core.data[p * V + V - 1] = 50;
      for (const extra of [{}, { suppressEos: 3 }, { user, lambda: 0.4, suppressEos: 2 }]) {
        const g = await graphs.stepMath(input(core, extra));
        const r = await referenceStepMath.run(input(core, extra));
        expect(g.argmax).toEqual(r.argmax);
        expect(g.estimate()).toEqual(r.estimate());
        g.argmax.forEach((_, p) => expect(Math.abs(g.topProbability(p) - r.topProbability(p))).toBeLessThan(1e-5));
      }
    },
  );

  it('multi-hot: the same nucleus ids as the reference, sharp to flat rows (a flat row keeps NUCLEUS_CANDIDATES)', async () => {
    for (const scale of [40, 8, 0.5]) {
      const core = logits(10 + scale, 3, scale);
      const projection = { kind: 'multihot' as const, topP: 0.9, seed: 1, block: 0, step: 0 };
      const g = (await graphs.stepMath(input(core, { projection }))).estimate();
      expect(g).toEqual(project(core, projection));
      expect(g[0]).toEqual(nucleus(core.data, 0, V, 0.9).ids);
    }
    const flat = (
      await graphs.stepMath(input(logits(5, 1, 0.01), { projection: { kind: 'multihot', topP: 0.95, seed: 1, block: 0, step: 0 } }))
    ).estimate();
    expect(flat[0]).toHaveLength(NUCLEUS_CANDIDATES);
    // top_p 1: every candidate, though a float32 running total reaches 1 early on a sloped row.
    const sloped = blockLogits(
      Float32Array.from({ length: V }, (_, i) => -((i * 7919) % V) * 0.1),
      1,
      V,
    );
    const all = { kind: 'multihot' as const, topP: 1, seed: 1, block: 0, step: 0 };
    expect((await graphs.stepMath(input(sloped, { projection: all }))).estimate()).toEqual(project(sloped, all));
  });

  it('temperature: the nucleus of logits / temperature in the graph and the reference alike, narrower below 1 and wider above', async () => {
    // Rows with 14 raised tokens: a nucleus of a few at temperature 1.
    const core = logits(77, 2, 4);
    for (let p = 0; p < 2; p++) for (let j = 0; j < 14; j++) core.data[p * V + ((j * 3571 + p) % V)] += 16 + j * 0.3;
    const sizes: number[] = [];
    for (const temperature of [0.5, 1, 1.5]) {
      const multihot = { kind: 'multihot' as const, topP: 0.9, temperature, seed: 1, block: 0, step: 0 };
      const g = (await graphs.stepMath(input(core, { projection: multihot }))).estimate();
      expect(g).toEqual(project(core, multihot));
      sizes.push(g[0].length);
      const sample = { ...multihot, kind: 'sample' as const, seed: 5 };
      const drawn = (await graphs.stepMath(input(core, { projection: sample }))).estimate();
      expect(drawn).toEqual(project(core, sample));
      drawn.forEach(([id], p) => expect(g[p]).toContain(id));
    }
    expect(sizes[0]).toBeLessThan(sizes[1]);
    expect(sizes[1]).toBeLessThan(sizes[2]);
    // The logits themselves still give the argmax and the top probability.
    const cold = await graphs.stepMath(
      input(core, { projection: { kind: 'sample', topP: 0.9, temperature: 0.5, seed: 1, block: 0, step: 0 } }),
    );
    const plain = await graphs.stepMath(input(core, { projection: { kind: 'sample', topP: 0.9, seed: 1, block: 0, step: 0 } }));
    expect(cold.argmax).toEqual(plain.argmax);
    expect(cold.topProbability(0)).toBe(plain.topProbability(0));
  });

  it(
    'sampling: the graph draws the same ids as the reference for the same uniforms, and both follow the nucleus distribution (total ' +
      'variation < 0.06 over 2000 draws)',
    async () => {
      // One fixed row whose 0.9-nucleus holds about a dozen tokens. With 2000 draws over ~12 tokens,
      // sampling noise alone gives a total variation of about 0.03 from the exact distribution.
      const row = logits(42, 1, 4);
      for (let j = 0; j < 14; j++) row.data[(j * 3571) % V] += 16 + j * 0.15;
      const { ids, probs } = nucleus(row.data, 0, V, 0.9);
      expect(ids.length).toBeGreaterThan(5);
      expect(ids.length).toBeLessThan(20);
      const total = probs.reduce((a, b) => a + b, 0);
      const exact = new Map(ids.map((id, i) => [id, probs[i] / total]));
      const counts = { graph: new Map<number, number>(), reference: new Map<number, number>() };
      let same = 0;
      const draws = 2000;
      for (let step = 0; step < draws; step++) {
        const projection = { kind: 'sample' as const, topP: 0.9, seed: 11, block: 0, step };
        const [[g]] = (await graphs.stepMath(input(row, { projection }))).estimate();
        const [[r]] = project(row, projection);
        if (g === r) same++;
        counts.graph.set(g, (counts.graph.get(g) ?? 0) + 1);
        counts.reference.set(r, (counts.reference.get(r) ?? 0) + 1);
      }
      expect(same / draws).toBeGreaterThan(0.995);
      for (const c of [counts.graph, counts.reference]) {
        for (const id of c.keys()) expect(exact.has(id)).toBe(true);
        let tv = 0;
        for (const [id, p] of exact) tv += Math.abs((c.get(id) ?? 0) / draws - p);
        expect(tv / 2).toBeLessThan(0.06);
      }
    },
  );

  it('one batch of several generations gives each the outcome of its own run; concurrent calls share one graph run', async () => {
    const user = logits(31, 3, 6);
    const items: StepMathInput[] = [
      input(logits(21, 3, 6), { user, lambda: 0.5, suppressEos: 2, projection: { kind: 'sample', topP: 0.9, seed: 1, block: 0, step: 2 } }),
      input(logits(22, 3, 0.01), {
        user,
        lambda: 0.25,
        suppressEos: 1,
        projection: { kind: 'multihot', topP: 0.95, seed: 2, block: 3, step: 0 },
      }),
      input(logits(23, 3, 12), { user, lambda: 1, suppressEos: 3, projection: { kind: 'sample', topP: 1, seed: 3, block: 1, step: 7 } }),
    ];
    const outcome = async (r: Promise<StepMathResult>) => {
      const x = await r;
      return { argmax: x.argmax, top: x.argmax.map((_, p) => x.topProbability(p)), estimate: x.estimate() };
    };
    const alone = [];
    for (const item of items) alone.push(await outcome(graphs.stepMath(item)));
    const batch = await graphs.stepMathBatch(items);
    expect(await Promise.all(batch.map((r) => outcome(Promise.resolve(r))))).toEqual(alone);
    // Rows of one buffer (a denoiser batch's output), given in another order: fed as they lie, the same outcomes.
    const rows = 3 * V;
    const shared = new Float32Array(3 * rows);
    items.forEach((item, i) => shared.set(item.core.data, i * rows));
    const views = items.map((item, i) => ({ ...item, core: blockLogits(shared.subarray(i * rows, (i + 1) * rows), 3, V) }));
    const reversed = await graphs.stepMathBatch([...views].reverse());
    expect(await Promise.all(reversed.reverse().map((r) => outcome(Promise.resolve(r))))).toEqual(alone);
    // Calls made together through `math` run as one batch: one graph run for the three.
    const runs = graphs.timing.runs;
    const together = await Promise.all(items.map((item) => outcome(graphs.math.run(item))));
    expect(together).toEqual(alone);
    expect(graphs.timing.runs - runs).toBe(1);
    // Calls that need different graphs (no user model here) run in their own batches, with the same outcomes.
    const mixed = [items[0], input(items[1].core, { projection: items[1].projection })];
    const single = await outcome(graphs.stepMath(mixed[1]));
    const both = await Promise.all(mixed.map((item) => outcome(graphs.math.run(item))));
    expect(both).toEqual([alone[0], single]);
  });

  it('compact inputs are densified in the graph: the same outcome as their dense rows', async () => {
    const t = topKLogits(logits(6, 4, 10), 32);
    const projection = { kind: 'sample' as const, topP: 0.95, seed: 2, block: 0, step: 1 };
    const viaCompact = await graphs.stepMath(input(compactBlock(t), { projection }));
    const viaDense = await graphs.stepMath(input(blockLogits(compactBlock(t).data.slice(), 4, V), { projection }));
    expect(viaCompact.argmax).toEqual(viaDense.argmax);
    expect(viaCompact.estimate()).toEqual(viaDense.estimate());
  });
});

describe('generations through the step graphs (the bundled core + user)', () => {
  let on: { core: LocalModel; user: LocalModel };
  let off: { core: LocalModel; user: LocalModel };
  beforeAll(async () => {
    on = {
      core: await loadLocalModel('models/core', ['cpu'], { stepGraphs: 'on' }),
      user: await loadLocalModel('models/user', ['cpu'], { stepGraphs: 'on' }),
    };
    off = {
      core: await loadLocalModel('models/core', ['cpu'], { stepGraphs: 'off' }),
      user: await loadLocalModel('models/user', ['cpu'], { stepGraphs: 'off' }),
    };
    expect(on.core.denoiser.useGraphs && !off.core.denoiser.useGraphs).toBe(true);
  });
  const request = (extra: Partial<GenerationRequest>): GenerationRequest => ({
    prompt: [464, 2106, 286],
    steps: 10,
    maxTokens: 24,
    minTokens: 12,
    seed: 3,
    ...extra,
  });

  it(
    'greedy decoding gives the same tokens through the graphs as through the TypeScript engine, with and without the user ' + 'model',
    async () => {
      for (const withUser of [false, true]) {
        const run = (m: typeof on) =>
          generateAll(
            { core: m.core.denoiser, user: withUser ? m.user.denoiser : undefined, math: m.core.denoiser.stepMath },
            request({ projection: 'greedy', userContext: withUser ? [10, 11] : undefined }),
          );
        const [graph, ts] = [await run(on), await run(off)];
        expect(graph.tokens.length).toBeGreaterThanOrEqual(12);
        expect(graph).toEqual(ts);
      }
    },
  );

  it('sampled decoding through the graphs: the same tokens for the same seed on every run, other tokens for another seed', async () => {
    const run = (seed: number) =>
      generateAll(
        { core: on.core.denoiser, user: on.user.denoiser, math: on.core.denoiser.stepMath },
        request({ seed, userContext: [10, 11] }),
      );
    const first = await run(5);
    expect(await run(5)).toEqual(first);
    expect((await run(6)).tokens).not.toEqual(first.tokens);
  });
});
