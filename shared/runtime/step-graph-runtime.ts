import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { topKOf, type TopKLogits } from '../ssd2/compact';
import type { StepMath, StepMathInput, StepMathResult } from '../ssd2/kernel';
import { NOISE_ROW_STRIDE, NoiseStream, noiseTable, streamKey, uniformAt } from '../ssd2/noise';
import { temperatureOf } from '../ssd2/projection';
import { noiseRows, type NoisyBlockRecipe } from '../ssd2/simplex';
import type { BlockSchedule } from '../ssd2/schedule';
import type { BlockLogits, Estimate } from '../ssd2/types';
import { graphClock } from './graph-clock';
import { compactGraph, densifyGraph, mixGraph, noisyBlockGraph, stepGraph, type StepGraphVariant } from './step-graphs';

/** The parts of an onnxruntime module (node, web or react-native) the runtime adapters use. */
export interface OrtModule {
  Tensor: typeof Tensor;
}

/** Creates a session from graph bytes; the runtime adapter picks execution providers. */
/**
 * Opens a graph. `externalData`: the bundle files holding weights the graph keeps outside itself
 * (graphs past ONNX's 2 GB protobuf limit), by their path relative to the graph.
 */
export type SessionFactory = (
  bytes: Uint8Array,
  file: string,
  externalData?: readonly { path: string; data: Uint8Array }[],
) => Promise<InferenceSession>;

/** A block of logits as a graph input: an onnxruntime tensor [n, B, V]. */
type Feed = Tensor;

/**
 * The step graphs of one vocabulary, opened on the runtime's execution provider: they draw noisy
 * blocks, densify and compact logits and run the step math, so the host handles O(B·k) numbers
 * per step. One instance per (session factory, vocabulary), shared by the models that use it.
 */
export class StepGraphs {
  /** Time inside these graphs' session.run (cumulative ms), for metrics and benchmarks. */
  readonly timing = { runs: 0, runMs: 0 };
  private readonly sessions = new Map<string, Promise<InferenceSession>>();

  private constructor(
    private readonly ort: OrtModule,
    private readonly createSession: SessionFactory,
    readonly vocabSize: number,
  ) {}

  private static readonly shared = new WeakMap<SessionFactory, Map<number, StepGraphs>>();

  static for(ort: OrtModule, createSession: SessionFactory, vocabSize: number): StepGraphs {
    let byVocab = StepGraphs.shared.get(createSession);
    if (!byVocab) StepGraphs.shared.set(createSession, (byVocab = new Map()));
    let graphs = byVocab.get(vocabSize);
    if (!graphs) byVocab.set(vocabSize, (graphs = new StepGraphs(ort, createSession, vocabSize)));
    return graphs;
  }

  private async run(key: string, build: () => Uint8Array, feeds: Record<string, Tensor>): Promise<InferenceSession.ReturnType> {
    let session = this.sessions.get(key);
    if (!session) {
      session = this.createSession(build(), `${key}.onnx`);
      this.sessions.set(key, session);
      session.catch(() => this.sessions.delete(key));
    }
    const s = await session;
    const t0 = performance.now();
    const out = await graphClock.time(() => s.run(feeds));
    this.timing.runs++;
    this.timing.runMs += performance.now() - t0;
    return out;
  }

  private tensor(type: 'float32', data: Float32Array, dims: number[]): Tensor;
  private tensor(type: 'int64', data: BigInt64Array, dims: number[]): Tensor;
  private tensor(type: 'bool', data: Uint8Array, dims: number[]): Tensor;
  private tensor(type: 'float32' | 'int64' | 'bool', data: Float32Array | BigInt64Array | Uint8Array, dims: number[]): Tensor {
    return new this.ort.Tensor(type as 'float32', data as Float32Array, dims);
  }

  /** The noisy simplices of a batch of blocks of one length, as `noisySimplex` draws them: [n, B, V]. */
  async noisyBlocks(recipes: readonly NoisyBlockRecipe[], k: number, schedule?: BlockSchedule): Promise<Tensor> {
    const v = this.vocabSize;
    const n = recipes.length;
    const b = recipes[0].blockLength;
    const width = Math.max(1, ...recipes.flatMap((r) => r.estimate?.map((ids) => ids.length) ?? [1]));
    const offsets = new BigInt64Array(n * b);
    const hot = new BigInt64Array(n * b * width);
    const weight = new Float32Array(n * b * width);
    const scale = new Float32Array(n * b);
    const signal = new Float32Array(n * b);
    recipes.forEach((r, i) => {
      const rows = noiseRows(r, v, k, schedule);
      scale.set(rows.scales, i * b);
      signal.set(rows.signals, i * b);
      for (let p = 0; p < b; p++) {
        offsets[i * b + p] = BigInt(rows.offsets[p] / NOISE_ROW_STRIDE);
        const ids = r.estimate?.[p] ?? [];
        for (let j = 0; j < width; j++) {
          // Padding repeats the row's first id (writing the same +signal value again); an empty
          // row points at id 0 with weight 0, which writes that entry's own −signal value.
          const id = ids[j] ?? ids[0] ?? 0;
          if (!Number.isInteger(id) || id < 0 || id >= v)
            throw new RangeError(`estimate id ${id} at position ${p} is outside the vocabulary [0, ${v})`);
          hot[(i * b + p) * width + j] = BigInt(id);
          weight[(i * b + p) * width + j] = ids.length > 0 ? 1 : 0;
        }
      }
    });
    const out = await this.run(`noisy-block-${v}`, () => noisyBlockGraph(v, noiseTable()), {
      offsets: this.tensor('int64', offsets, [n, b]),
      hot: this.tensor('int64', hot, [n, b, width]),
      hot_weight: this.tensor('float32', weight, [n, b, width]),
      scale: this.tensor('float32', scale, [n, b]),
      signal: this.tensor('float32', signal, [n, b]),
    });
    return out.simplex;
  }

  /** Compact blocks of one shape as dense rows [n, B, V]. */
  async densify(blocks: readonly TopKLogits[]): Promise<Tensor> {
    const n = blocks.length;
    const { length: b, k } = blocks[0];
    const ids = new BigInt64Array(n * b * k);
    const values = new Float32Array(n * b * k);
    const floors = new Float32Array(n * b);
    blocks.forEach((t, i) => {
      if (t.length !== b || t.k !== k || t.vocabSize !== this.vocabSize)
        throw new RangeError(
          `compact blocks of different shapes in one batch (${t.length} x ${t.k} of ${t.vocabSize}, expected ${b} x ${k} of ` +
            `${this.vocabSize})`,
        );
      for (let j = 0; j < b * k; j++) ids[i * b * k + j] = BigInt(t.ids[j]);
      values.set(t.values, i * b * k);
      floors.set(t.floors, i * b);
    });
    const out = await this.run(`densify-${this.vocabSize}`, () => densifyGraph(this.vocabSize), {
      ids: this.tensor('int64', ids, [n, b, k]),
      values: this.tensor('float32', values, [n, b, k]),
      floors: this.tensor('float32', floors, [n, b]),
    });
    return out.dense;
  }

  /** The top k of each row of logits [n, B, V] (the wire form), one TopKLogits per item. */
  async compact(logits: Tensor, k: number): Promise<TopKLogits[]> {
    const [n, b, v] = logits.dims;
    if (v !== this.vocabSize) throw new RangeError(`logits over ${v} tokens, graphs built for ${this.vocabSize}`);
    if (k >= v) throw new RangeError(`k ${k} must be below the vocabulary size ${v} for the compaction graph`);
    const out = await this.run(`compact-${v}`, () => compactGraph(v), {
      logits,
      k: this.tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
    });
    const ids = out.ids.data as BigInt64Array;
    const values = out.values.data as Float32Array;
    const floors = out.floors.data as Float32Array;
    return Array.from({ length: n }, (_, i) => ({
      length: b,
      vocabSize: v,
      k,
      ids: Uint32Array.from(ids.subarray(i * b * k, (i + 1) * b * k), Number),
      values: values.slice(i * b * k, (i + 1) * b * k),
      floors: floors.slice(i * b, (i + 1) * b),
    }));
  }

  /** mixLogits of two blocks, returned in the wire form (top k and floors); λ = 0 is the core's logits as they are. */
  async mixCompact(core: BlockLogits, user: BlockLogits, lambda: number, k: number): Promise<TopKLogits> {
    if (lambda === 0) {
      const held = topKOf(core);
      return held && held.k === k ? held : (await this.compact(await this.feed(core), k))[0];
    }
    const out = await this.run(`mix-${this.vocabSize}`, () => mixGraph(this.vocabSize), {
      core: await this.feed(core),
      user: await this.feed(user),
      lambda: this.tensor('float32', Float32Array.of(lambda), [1]),
    });
    const [mixed] = await this.compact(out.mixed, k);
    return mixed;
  }

  /** Logits as a graph input: compact blocks are densified by a graph, dense ones passed as they are. */
  async feed(logits: BlockLogits): Promise<Feed> {
    const held = topKOf(logits);
    if (held) return this.densify([held]);
    return this.tensor('float32', logits.data, [1, logits.length, logits.vocabSize]);
  }

  /**
   * Blocks of one shape as one graph input [n, B, V]: compact ones densified by one graph run;
   * dense ones as they lie when they are consecutive rows of one buffer (a denoiser batch's
   * output, in its order), else copied side by side.
   */
  private async feedMany(blocks: readonly BlockLogits[]): Promise<Feed> {
    if (blocks.length === 1) return this.feed(blocks[0]);
    const held = blocks.map((l) => topKOf(l));
    if (held.every((t) => t !== undefined && t.k === held[0]!.k)) return this.densify(held as TopKLogits[]);
    const { length: b, vocabSize: v } = blocks[0];
    const dims = [blocks.length, b, v];
    if (held.every((t) => t === undefined)) {
      const first = blocks[0].data;
      const adjacent = blocks.every(
        (l, i) => l.data.buffer === first.buffer && l.data.byteOffset === first.byteOffset + i * b * v * 4 && l.data.length === b * v,
      );
      if (adjacent) return this.tensor('float32', new Float32Array(first.buffer, first.byteOffset, blocks.length * b * v), dims);
    }
    const data = new Float32Array(blocks.length * b * v);
    blocks.forEach((l, i) => data.set(l.data, i * b * v));
    return this.tensor('float32', data, dims);
  }

  /**
   * The step math of n items in one run of the step graph. The items share the graph variant, the
   * EOS id and the block length (`stepMathKey`); λ, top-p, the EOS mask and the draws are per item.
   */
  async stepMathBatch(items: readonly StepMathInput[]): Promise<StepMathResult[]> {
    // Dense core logits in their order in the buffer, so a denoiser batch's output is fed as it lies
    // (compact blocks are never densified here: their order does not matter).
    const offset = (l: BlockLogits) => (topKOf(l) ? 0 : l.data.byteOffset);
    const order = Array.from(items.keys()).sort((i, j) => offset(items[i].core) - offset(items[j].core) || i - j);
    const sorted = await this.stepMathInOrder(order.map((i) => items[i]));
    const results: StepMathResult[] = new Array(items.length);
    order.forEach((i, j) => (results[i] = sorted[j]));
    return results;
  }

  private async stepMathInOrder(inputs: readonly StepMathInput[]): Promise<StepMathResult[]> {
    const n = inputs.length;
    const [first] = inputs;
    const b = first.core.length;
    const variant = stepVariant(first);
    const feeds: Record<string, Tensor> = { core: await this.feedMany(inputs.map((i) => i.core)) };
    if (variant.user) {
      feeds.user = await this.feedMany(inputs.map((i) => i.user!));
      feeds.lambda = this.tensor(
        'float32',
        Float32Array.from(inputs, (i) => i.lambda),
        [n],
      );
    }
    if (variant.eos) {
      const suppress = new Uint8Array(n * b);
      inputs.forEach((i, j) => suppress.fill(1, j * b, j * b + Math.min(b, i.suppressEos)));
      feeds.suppress = this.tensor('bool', suppress, [n, b]);
    }
    if (variant.nucleus) {
      const uniforms = new Float32Array(n * b);
      inputs.forEach(({ projection: p }, j) => {
        const key = streamKey({ seed: p.seed, block: p.block, step: p.step, stream: NoiseStream.sampling });
        for (let q = 0; q < b; q++) uniforms[j * b + q] = uniformAt(key, q);
      });
      feeds.uniforms = this.tensor('float32', uniforms, [n, b]);
      // top_p 1 takes every candidate: a float32 running total may reach 1 before the last one does.
      feeds.top_p = this.tensor(
        'float32',
        Float32Array.from(inputs, (i) => (i.projection.topP >= 1 ? Infinity : i.projection.topP)),
        [n],
      );
      feeds.temperature = this.tensor(
        'float32',
        Float32Array.from(inputs, (i) => temperatureOf(i.projection)),
        [n],
      );
    }
    const key = `step-${this.vocabSize}-${first.eosTokenId}-${variant.user ? 'u' : ''}${variant.eos ? 'e' : ''}${variant.nucleus ? 'n' : ''}`;
    const out = await this.run(key, () => stepGraph(this.vocabSize, first.eosTokenId, variant), feeds);
    const argmaxAll = out.argmax.data as BigInt64Array;
    const topProb = out.top_prob.data as Float32Array;
    return inputs.map(({ projection }, j): StepMathResult => {
      const argmax = Array.from(argmaxAll.subarray(j * b, (j + 1) * b), Number);
      const estimate = (): Estimate => {
        if (projection.kind === 'greedy') return argmax.map((id) => [id]);
        if (projection.kind === 'sample')
          return Array.from((out.sampled.data as BigInt64Array).subarray(j * b, (j + 1) * b), (id) => [Number(id)]);
        const ids = out.nucleus_ids.data as BigInt64Array;
        const sizes = out.nucleus_size.data as BigInt64Array;
        const c = ids.length / (n * b);
        return Array.from({ length: b }, (_, p) => {
          const row = (j * b + p) * c;
          return Array.from(ids.subarray(row, row + Number(sizes[j * b + p])), Number);
        });
      };
      return { argmax, topProbability: (p) => topProb[j * b + p], estimate };
    });
  }

  /** The step math of one item in one run. */
  async stepMath(input: StepMathInput): Promise<StepMathResult> {
    const [result] = await this.stepMathBatch([input]);
    return result;
  }

  /** `StepMath` with one run of the step graphs per call. */
  get itemMath(): StepMath {
    return { run: (input) => this.stepMath(input) };
  }

  /** Step math calls waiting for the event loop's next turn. */
  private queued: { input: StepMathInput; resolve: (r: StepMathResult) => void; reject: (err: unknown) => void }[] = [];

  /** Runs the queued calls: those that share a graph variant, EOS id and block length in one batch. */
  private flush(): void {
    const queued = this.queued;
    this.queued = [];
    const groups = new Map<string, typeof queued>();
    for (const q of queued) {
      const key = stepMathKey(q.input);
      groups.set(key, [...(groups.get(key) ?? []), q]);
    }
    for (const group of groups.values()) {
      this.stepMathBatch(group.map((q) => q.input)).then(
        (results) => group.forEach((q, i) => q.resolve(results[i])),
        (err) => group.forEach((q) => q.reject(err)),
      );
    }
  }

  /**
   * `StepMath` backed by these graphs. Calls made in one turn of the event loop (the generations of
   * one dynamic batch, whose logits arrive together) run as one batch: one densify and one step
   * graph run for all of them instead of one each.
   */
  get math(): StepMath {
    return {
      run: (input) =>
        new Promise<StepMathResult>((resolve, reject) => {
          this.queued.push({ input, resolve, reject });
          if (this.queued.length === 1) nextTurn(() => this.flush());
        }),
    };
  }
}

/** Which step graph an input needs. */
function stepVariant({ user, suppressEos, projection }: StepMathInput): StepGraphVariant {
  return { user: user !== undefined, eos: suppressEos > 0, nucleus: projection.kind !== 'greedy' };
}

/** Inputs with the same key run in one batch of the same step graph. */
function stepMathKey(input: StepMathInput): string {
  const v = stepVariant(input);
  const compactK = topKOf(input.core)?.k ?? 0;
  return `${input.eosTokenId}/${input.core.length}/${v.user}/${v.eos}/${v.nucleus}/${compactK}`;
}

/** Runs `f` after the current turn of the event loop (every microtask first). */
const nextTurn: (f: () => void) => void =
  typeof globalThis.setImmediate === 'function' ? (f) => globalThis.setImmediate(f) : (f) => setTimeout(f, 0);
