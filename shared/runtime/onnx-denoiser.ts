import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { BundleError } from '../errors';
import { CONTEXT_HIDDEN, LAST_HIDDEN, diffNames, graphFiles, graphSpecs, type GraphSpec, type LoadedBundle } from '../bundle';
import type { DenoiseStep, Denoiser, DenoiserInfo } from '../ssd2/denoiser';
import { compactBlock, topKOf, type TopKLogits } from '../ssd2/compact';
import { referenceStepMath, type StepMath } from '../ssd2/kernel';
import { noisySimplex } from '../ssd2/simplex';
import { positionNoise } from '../ssd2/schedule';
import { blockLogits, type BlockLogits } from '../ssd2/types';
import { graphClock } from './graph-clock';
import { ByteLru } from '../cache/byte-lru';
import { ContextCache } from './kv-cache';
import { StepGraphs, type OrtModule, type SessionFactory } from './step-graph-runtime';

export type { OrtModule, SessionFactory };

export interface OnnxDenoiserOptions {
  /** Byte budget of the context key/value cache (default 256 MiB). */
  cacheBytes?: number;
  /** false re-encodes the whole context on every step (for benchmarks and parity checks). */
  useCache?: boolean;
  /** Execution provider the sessions run on, for reporting. */
  provider?: string;
  /**
   * Byte budget of padded batch caches kept for reuse (default: as `cacheBytes`). Steps that
   * share a batch step after step (lock-step generations) then pay the padding copy once per
   * block instead of once per step. 0 disables the reuse.
   */
  batchCacheBytes?: number;
  /** Step graphs to use (default: those shared by every model opened with the same runtime and vocabulary). */
  graphs?: StepGraphs;
  /**
   * Where the O(B·V) work of a step runs (noisy simplex, self-conditioning input, compaction,
   * step math): 'on' in the step graphs, 'off' in TypeScript, 'auto' (default) in the graphs when
   * a block holds at least STEP_GRAPHS_MIN_LOGITS logits, where a graph call costs less than the
   * JavaScript it replaces. The results are the same either way (greedy tokens exactly).
   */
  stepGraphs?: 'auto' | 'on' | 'off';
}

/** Logits per block (B·V) from which 'auto' runs a step's math in the step graphs. */
const STEP_GRAPHS_MIN_LOGITS = 1 << 16;

interface KV {
  keys: Tensor;
  values: Tensor;
  length: number;
  /** Identity of this cache entry (a new one for every encode), for keying padded batches. */
  id: number;
  /** Shifted readout: the last context token's hidden state [hidden], which the denoiser reads position 0 from. */
  hidden: Float32Array | null;
}

interface PaddedBatch {
  keys: Tensor;
  values: Tensor;
  mask: Tensor;
  bytes: number;
}

/** How many padded batch compositions are kept (lock-step cohorts of one model). */
const PADDED_BATCHES_KEPT = 4;

function infoFromBundle(bundle: LoadedBundle): DenoiserInfo {
  const m = bundle.manifest;
  return {
    name: m.name,
    role: m.role,
    vocabSize: m.vocab_size,
    blockSize: m.block_size,
    maxContext: m.max_context,
    simplexK: m.simplex_k,
    schedule: m.schedule,
    tTrain: m.t_train,
    timestepRange: m.timestep_range,
    selfConditioning: m.self_conditioning,
    eosTokenId: m.eos_token_id,
    tokenizerSha256: bundle.digests.get(m.tokenizer)!,
    readout: m.architecture.readout,
    blockSchedule: m.block_schedule,
  };
}

/**
 * A bundle's graphs behind the Denoiser interface. The clean context is encoded once into a
 * key/value cache (extended incrementally when a block is appended), so a step only runs the B
 * block positions against the cache, whatever the context length. A full-attention bundle
 * (architecture.context = full, e.g. a converted SSD-LM) has one graph that reads the context
 * and the block together at every step.
 */
export class OnnxDenoiser implements Denoiser {
  readonly info: DenoiserInfo;
  readonly provider: string;
  readonly cache: ContextCache<KV>;
  private readonly useCache: boolean;
  private readonly arch: LoadedBundle['manifest']['architecture'];
  private readonly batchCacheBytes: number;
  /** Padded past keys/values by batch composition (sorted KV ids). */
  private readonly padded: ByteLru<PaddedBatch>;
  private nextKvId = 1;
  /** Padding copies made and reused, for tests and metrics. */
  readonly padding = { built: 0, reused: 0 };
  /**
   * Where batched steps spend their time (cumulative ms): `prepMs` building the inputs (noise,
   * self-conditioning, padded caches; context encodes excluded), `runMs` inside the denoiser
   * graph's session.run. For metrics and the benchmark's breakdown; the step graphs' own time is
   * in `graphs.timing`.
   */
  readonly timing = { batches: 0, items: 0, prepMs: 0, runMs: 0 };
  /** The step graphs of this model's vocabulary (noisy blocks, compaction, step math), on the same provider. */
  readonly graphs: StepGraphs;
  /** Whether this model's steps use the step graphs (`stepGraphs` option). */
  readonly useGraphs: boolean;

  private constructor(
    bundle: LoadedBundle,
    private readonly ort: OrtModule,
    createSession: SessionFactory,
    /** null for a full-attention bundle (architecture.context = full): the denoiser reads the whole sequence. */
    private readonly encoder: InferenceSession | null,
    private readonly denoiser: InferenceSession,
    opts: OnnxDenoiserOptions,
  ) {
    this.info = infoFromBundle(bundle);
    this.graphs = opts.graphs ?? StepGraphs.for(ort, createSession, this.info.vocabSize);
    const mode = opts.stepGraphs ?? 'auto';
    this.useGraphs = mode === 'on' || (mode === 'auto' && this.info.vocabSize * this.info.blockSize >= STEP_GRAPHS_MIN_LOGITS);
    this.arch = bundle.manifest.architecture;
    this.provider = opts.provider ?? 'unknown';
    this.useCache = opts.useCache ?? true;
    this.cache = new ContextCache<KV>(opts.cacheBytes ?? 256 * 2 ** 20);
    this.batchCacheBytes = opts.batchCacheBytes ?? opts.cacheBytes ?? 256 * 2 ** 20;
    this.padded = new ByteLru(this.batchCacheBytes, { maxEntries: PADDED_BATCHES_KEPT });
  }

  static async create(
    bundle: LoadedBundle,
    ort: OrtModule,
    createSession: SessionFactory,
    opts: OnnxDenoiserOptions = {},
  ): Promise<OnnxDenoiser> {
    const m = bundle.manifest;
    const specs = graphSpecs(m);
    const open = async (file: string, spec: GraphSpec) => {
      let session: InferenceSession;
      try {
        const { bytes, externalData } = graphFiles(bundle, file);
        session = await createSession(bytes, file, externalData);
      } catch (err) {
        throw new BundleError(bundle.location, file, `onnxruntime cannot load the graph: ${(err as Error).message}`, { cause: err });
      }
      const problem = diffNames('inputs', spec.inputs, session.inputNames) ?? diffNames('outputs', spec.outputs, session.outputNames);
      if (problem) throw new BundleError(bundle.location, file, `graph does not match the bundle format: ${problem}`);
      return session;
    };
    const encoder = specs.contextEncoder ? await open(m.graphs.context_encoder!, specs.contextEncoder) : null;
    const denoiser = await open(m.graphs.denoiser, specs.denoiser);
    return new OnnxDenoiser(bundle, ort, createSession, encoder, denoiser, opts);
  }

  private kvShape(batch: number, length: number): number[] {
    const a = this.arch;
    return [a.layers, batch, a.heads, length, a.head_dim];
  }

  private emptyKV(): KV {
    const dims = this.kvShape(1, 0);
    return {
      keys: new this.ort.Tensor('float32', new Float32Array(0), dims),
      values: new this.ort.Tensor('float32', new Float32Array(0), dims),
      length: 0,
      id: 0,
      hidden: null,
    };
  }

  /** Runs the context encoder over `tokens` after `past`; causal, so the result equals a full encode. */
  private async extend(past: KV, tokens: readonly number[]): Promise<KV> {
    if (tokens.length === 0) return past;
    const { Tensor: T } = this.ort;
    const s = tokens.length;
    const total = past.length + s;
    const encoder = this.encoder;
    if (!encoder) throw new Error(`${this.info.name}: a full-attention bundle has no context cache`);
    const out = await graphClock.time(() =>
      encoder.run({
        input_ids: new T(
          'int64',
          BigInt64Array.from(tokens, (t) => BigInt(t)),
          [1, s],
        ),
        position_ids: new T(
          'int64',
          BigInt64Array.from({ length: s }, (_, i) => BigInt(past.length + i)),
          [1, s],
        ),
        past_keys: past.keys,
        past_values: past.values,
        attention_mask: new T('float32', new Float32Array(total).fill(1), [1, total]),
      }),
    );
    const hidden = this.info.readout === 'shifted' ? (out[LAST_HIDDEN].data as Float32Array) : null;
    return { keys: out.present_keys, values: out.present_values, length: total, id: this.nextKvId++, hidden };
  }

  /** The key/value cache of a context: a hit, an extension of the longest cached prefix, or a full encode. */
  async contextCache(context: readonly number[]): Promise<KV> {
    if (!this.useCache) return this.extend(this.emptyKV(), context);
    const hit = this.cache.get(context);
    if (hit) return hit.value;
    const prefix = this.cache.longestPrefix(context);
    const kv = await this.extend(prefix?.value ?? this.emptyKV(), context.slice(prefix?.tokens.length ?? 0));
    this.cache.set(context, kv, 2 * (kv.keys.data as Float32Array).byteLength + (kv.hidden?.byteLength ?? 0));
    return kv;
  }

  async denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]> {
    const results: BlockLogits[] = new Array(steps.length);
    const byLength = new Map<number, number[]>();
    steps.forEach((s, i) => {
      const group = byLength.get(s.noise.blockLength);
      if (group) group.push(i);
      else byLength.set(s.noise.blockLength, [i]);
    });
    for (const [blockLength, indices] of byLength) {
      const logits = await this.runBatch(
        indices.map((i) => steps[i]),
        blockLength,
      );
      indices.forEach((i, j) => (results[i] = logits[j]));
    }
    return results;
  }

  private async runBatch(input: readonly DenoiseStep[], b: number): Promise<BlockLogits[]> {
    const { Tensor: T } = this.ort;
    const v = this.info.vocabSize;
    const n = input.length;
    const shifted = this.info.readout === 'shifted';
    for (const s of input) {
      if (s.context.length > this.info.maxContext)
        throw new RangeError(`${this.info.name}: context of ${s.context.length} tokens exceeds max_context ${this.info.maxContext}`);
      if (shifted && s.context.length === 0)
        throw new RangeError(`${this.info.name}: a shifted-readout model needs at least one context token`);
    }
    const unordered = this.encoder ? await Promise.all(input.map((s) => this.contextCache(s.context))) : null;
    const t0 = performance.now();
    // Items in a canonical order (by cache entry), so the same set of contexts in any arrival
    // order is the same padded batch and its padding can be reused.
    const order = Array.from(input.keys());
    if (unordered) order.sort((i, j) => unordered[i].id - unordered[j].id || i - j);
    const steps = order.map((i) => input[i]);
    // t/T per item, or per position under a staggered block schedule.
    const schedule = this.info.blockSchedule;
    const perPosition = schedule?.kind === 'staggered';
    const timestep = new Float32Array(perPosition ? n * b : n);
    steps.forEach((s, i) => {
      const { fractions } = positionNoise(s.noise.step, s.noise.steps, b, schedule);
      if (perPosition) timestep.set(fractions, i * b);
      else timestep[i] = fractions[0];
    });
    // With the step graphs the noisy simplices are drawn on the model's provider (the host sends
    // offsets and ids); without, by the same arithmetic in TypeScript (bit-identical).
    const simplex = this.useGraphs
      ? await this.graphs.noisyBlocks(
          steps.map((s) => s.noise),
          this.info.simplexK,
          schedule,
        )
      : this.noisyBlocksHere(steps, b);
    const selfCond = this.info.selfConditioning ? await this.selfConditioning(steps, simplex) : null;
    const feeds: Record<string, Tensor> = {
      simplex_logits: simplex,
      timestep: new T('float32', timestep, perPosition ? [n, b] : [n]),
      ...(unordered
        ? this.cachedContextFeeds(
            steps,
            order.map((i) => unordered[i]),
            b,
          )
        : this.sequenceFeeds(steps, b)),
    };
    if (selfCond) feeds.self_cond_logits = selfCond;
    const t1 = performance.now();
    const out = await graphClock.time(() => this.denoiser.run(feeds));
    const t2 = performance.now();
    this.timing.batches++;
    this.timing.items += n;
    this.timing.prepMs += t1 - t0;
    this.timing.runMs += t2 - t1;
    const data = out.logits.data as Float32Array;
    const results: BlockLogits[] = new Array(n);
    const k = steps[0].topK;
    if (this.useGraphs && k !== undefined && k < v && steps.every((s) => s.topK === k)) {
      // The caller reads the wire form only: the top k of each row, computed next to the logits.
      const compact = await this.graphs.compact(out.logits, k);
      order.forEach((i, j) => (results[i] = compactBlock(compact[j])));
      return results;
    }
    // Views into the one output buffer (each item's rows are contiguous); no copy per item.
    order.forEach((i, j) => (results[i] = blockLogits(data.subarray(j * b * v, (j + 1) * b * v), b, v)));
    return results;
  }

  /**
   * A cached-context step's feeds: block positions after each context, the padded key/value caches
   * and, when shifted, the context's last hidden state.
   */
  private cachedContextFeeds(steps: readonly DenoiseStep[], caches: KV[], b: number): Record<string, Tensor> {
    const { Tensor: T } = this.ort;
    const n = steps.length;
    const positions = new BigInt64Array(n * b);
    steps.forEach((s, i) => {
      for (let p = 0; p < b; p++) positions[i * b + p] = BigInt(s.context.length + p);
    });
    const past = this.batchCaches(caches);
    const feeds: Record<string, Tensor> = {
      position_ids: new T('int64', positions, [n, b]),
      past_keys: past.keys,
      past_values: past.values,
      past_mask: past.mask,
    };
    if (this.info.readout === 'shifted') {
      const h = this.arch.hidden;
      const hidden = new Float32Array(n * h);
      caches.forEach((c, i) => hidden.set(c.hidden!, i * h));
      feeds[CONTEXT_HIDDEN] = new T('float32', hidden, [n, h]);
    }
    return feeds;
  }

  /**
   * A full-attention step's feeds (architecture.context = full): every item's context ids, right-
   * padded to the longest; positions 0.. along context then block; a mask over the padding.
   */
  private sequenceFeeds(steps: readonly DenoiseStep[], b: number): Record<string, Tensor> {
    const { Tensor: T } = this.ort;
    const n = steps.length;
    const c = Math.max(...steps.map((s) => s.context.length));
    const total = c + b;
    const ids = new BigInt64Array(n * c);
    const positions = new BigInt64Array(n * total);
    const mask = new Float32Array(n * total);
    steps.forEach((s, i) => {
      const len = s.context.length;
      for (let p = 0; p < len; p++) {
        ids[i * c + p] = BigInt(s.context[p]);
        positions[i * total + p] = BigInt(p);
        mask[i * total + p] = 1;
      }
      for (let p = 0; p < b; p++) {
        positions[i * total + c + p] = BigInt(len + p);
        mask[i * total + c + p] = 1;
      }
    });
    return {
      input_ids: new T('int64', ids, [n, c]),
      position_ids: new T('int64', positions, [n, total]),
      attention_mask: new T('float32', mask, [n, total]),
    };
  }

  /**
   * The self-conditioning input [n, B, V]: each item's previous logits (compact ones densified by a
   * graph), or its noisy simplex at the first step (self-conditioning on the input is the identity).
   */
  private async selfConditioning(steps: readonly DenoiseStep[], simplex: Tensor): Promise<Tensor> {
    const n = steps.length;
    const [, b, v] = simplex.dims;
    for (const s of steps) {
      if (s.selfCond && (s.selfCond.length !== b || s.selfCond.vocabSize !== v))
        throw new RangeError(
          `${this.info.name}: self-conditioning logits of ${s.selfCond.length} x ${s.selfCond.vocabSize} for a block of ${b} x ${v}`,
        );
    }
    // Whole-batch cases pass a tensor as it is: every item at its first step (the simplex), or
    // every item compact with one k (densified in one graph run).
    if (steps.every((s) => s.selfCond === null)) return simplex;
    const held = this.useGraphs ? steps.map((s) => s.selfCond && topKOf(s.selfCond)) : [];
    if (held.length && held.every((t) => t && t.k === held[0]!.k)) return this.graphs.densify(held as TopKLogits[]);
    const only = steps.length === 1 ? steps[0].selfCond : undefined;
    if (only && !topKOf(only)) return this.graphs.feed(only);
    const rows = b * v;
    const input = new Float32Array(n * rows);
    const byK = new Map<number, number[]>();
    steps.forEach((s, i) => {
      const held = this.useGraphs && s.selfCond && topKOf(s.selfCond);
      if (held) byK.set(held.k, [...(byK.get(held.k) ?? []), i]);
    });
    for (const items of byK.values()) {
      const dense = (await this.graphs.densify(items.map((i) => topKOf(steps[i].selfCond!)!))).data as Float32Array;
      items.forEach((i, c) => input.set(dense.subarray(c * rows, (c + 1) * rows), i * rows));
    }
    const noisy = simplex.data as Float32Array;
    steps.forEach((s, i) => {
      if (this.useGraphs && s.selfCond && topKOf(s.selfCond)) return;
      input.set(s.selfCond ? s.selfCond.data : noisy.subarray(i * rows, (i + 1) * rows), i * rows);
    });
    return new this.ort.Tensor('float32', input, [n, b, v]);
  }

  /** Whether `release` ran: the sessions are gone and every further step fails. */
  released = false;

  /** Releases the context encoder's and denoiser's onnxruntime sessions (the shared step graphs stay). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all([this.encoder?.release(), this.denoiser.release()]);
  }

  /** The noisy simplices [n, B, V] drawn in TypeScript (`noisySimplex`). */
  private noisyBlocksHere(steps: readonly DenoiseStep[], b: number): Tensor {
    const rows = b * this.info.vocabSize;
    const simplex = new Float32Array(steps.length * rows);
    steps.forEach((s, i) =>
      noisySimplex(s.noise, this.info.vocabSize, this.info.simplexK, simplex.subarray(i * rows, (i + 1) * rows), this.info.blockSchedule),
    );
    return new this.ort.Tensor('float32', simplex, [steps.length, b, this.info.vocabSize]);
  }

  /**
   * The step math for `generate` with this model as the core: the step graphs on this model's
   * provider (the generations of one dynamic batch share a run), or the TypeScript reference when
   * the step graphs are off for it (small blocks).
   */
  get stepMath(): StepMath {
    return this.useGraphs ? this.graphs.math : referenceStepMath;
  }

  /**
   * One cache is passed as is; several are right-padded to the longest and masked. A padded batch
   * is kept (LRU, byte budget) by its composition, so steps that batch together step after step
   * copy the caches once.
   */
  private batchCaches(caches: KV[]): Omit<PaddedBatch, 'bytes'> {
    const { Tensor: T } = this.ort;
    const n = caches.length;
    if (n === 1)
      return {
        keys: caches[0].keys,
        values: caches[0].values,
        mask: new T('float32', new Float32Array(caches[0].length).fill(1), [1, caches[0].length]),
      };
    const key = caches.map((c) => c.id).join(',');
    const hit = this.padded.get(key);
    if (hit) {
      this.padding.reused++;
      return hit;
    }
    const p = Math.max(...caches.map((c) => c.length));
    const mask = new Float32Array(n * p);
    caches.forEach((c, i) => mask.fill(1, i * p, i * p + c.length));
    const a = this.arch;
    const d = a.head_dim;
    const pad = (pick: (c: KV) => Tensor) => {
      const out = new Float32Array(a.layers * n * a.heads * p * d);
      caches.forEach((c, i) => {
        const src = pick(c).data as Float32Array;
        for (let l = 0; l < a.layers; l++) {
          for (let h = 0; h < a.heads; h++) {
            const from = (l * a.heads + h) * c.length * d;
            const to = ((l * n + i) * a.heads + h) * p * d;
            out.set(src.subarray(from, from + c.length * d), to);
          }
        }
      });
      return new T('float32', out, this.kvShape(n, p));
    };
    const batch: PaddedBatch = {
      keys: pad((c) => c.keys),
      values: pad((c) => c.values),
      mask: new T('float32', mask, [n, p]),
      bytes: 2 * a.layers * n * a.heads * p * d * 4,
    };
    this.padding.built++;
    if (batch.bytes <= this.batchCacheBytes) this.padded.set(key, batch, batch.bytes);
    return batch;
  }
}
