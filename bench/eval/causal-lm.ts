/**
 * The autoregressive baseline of the evaluation: a causal LM of the same network and data as the
 * diffusion models (infra/training `--objective causal-lm`, exported as lm.onnx), decoded token by
 * token. Collaboration mixes core and user next-token log-probabilities with the same λ and the same
 * shared mixing and projection code the diffusion engine uses, so only the decoding differs.
 * Evaluation only: the serving stack runs diffusion bundles, not this.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { argmaxTokens, blockLogits, logSoftmax, mixLogits, project, suppressEarlyEos, type BlockLogits } from '../../shared/ssd2';

interface BaselineManifest {
  name: string;
  vocab_size: number;
  eos_token_id: number;
  max_positions: number;
  architecture: { layers: number; heads: number; head_dim: number; parameters: number };
}

/** One sequence's decoding state: the cache after the tokens fed so far. */
interface LmState {
  keys: ort.Tensor;
  values: ort.Tensor;
  length: number;
  next: BlockLogits;
}

export class CausalLm {
  private constructor(
    readonly manifest: BaselineManifest,
    private readonly session: ort.InferenceSession,
  ) {}

  static async load(dir: string): Promise<CausalLm> {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BaselineManifest;
    const session = await ort.InferenceSession.create(join(dir, 'lm.onnx'), { executionProviders: ['cpu'] });
    return new CausalLm(manifest, session);
  }

  /**
   * The summed negative log-likelihood of `continuation` after `context` under this model (one
   * pass over both; positions past max_positions are left out) and how many tokens it covers: the
   * generative perplexity of SSD-LM and block-diffusion papers is exp(nll / tokens).
   */
  async negLogLikelihood(context: readonly number[], continuation: readonly number[]): Promise<{ nll: number; tokens: number }> {
    const all = [...context, ...continuation].slice(0, this.manifest.max_positions);
    const scored = all.length - context.length;
    if (context.length === 0 || scored <= 0) return { nll: 0, tokens: 0 };
    const { layers, heads, head_dim: d } = this.manifest.architecture;
    const empty = new ort.Tensor('float32', new Float32Array(0), [layers, 1, heads, 0, d]);
    const out = await this.session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(all.map(BigInt)), [1, all.length]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(all.map((_, i) => BigInt(i))), [1, all.length]),
      past_keys: empty,
      past_values: empty,
      attention_mask: new ort.Tensor('float32', new Float32Array(all.length).fill(1), [1, all.length]),
    });
    const V = this.manifest.vocab_size;
    // Row i of the logits predicts token i + 1.
    const rows = logSoftmax(
      blockLogits((out.logits.data as Float32Array).slice((context.length - 1) * V, (all.length - 1) * V), scored, V),
    );
    let nll = 0;
    for (let j = 0; j < scored; j++) nll -= rows.data[j * V + all[context.length + j]];
    return { nll, tokens: scored };
  }

  /** Feeds `tokens` after `state` (or from nothing) and returns the state with the next-token logits. */
  async feed(tokens: readonly number[], state?: LmState): Promise<LmState> {
    const { layers, heads, head_dim: d } = this.manifest.architecture;
    const past = state?.length ?? 0;
    const empty = new ort.Tensor('float32', new Float32Array(0), [layers, 1, heads, 0, d]);
    const out = await this.session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map((_, i) => BigInt(past + i))), [1, tokens.length]),
      past_keys: state?.keys ?? empty,
      past_values: state?.values ?? empty,
      attention_mask: new ort.Tensor('float32', new Float32Array(past + tokens.length).fill(1), [1, past + tokens.length]),
    });
    const V = this.manifest.vocab_size;
    const logits = out.logits.data as Float32Array;
    const last = logits.slice((tokens.length - 1) * V, tokens.length * V);
    return { keys: out.present_keys, values: out.present_values, length: past + tokens.length, next: blockLogits(last, 1, V) };
  }
}

export interface CausalRequest {
  prompt: number[];
  /** Tokens only the user model sees, in front of the prompt. */
  userContext?: number[];
  lambda?: number;
  maxTokens: number;
  projection: 'greedy' | 'sample';
  topP?: number;
  seed?: number;
  /** EOS is suppressed until this many tokens were generated. */
  minTokens?: number;
}

/** Token-by-token generation with the core alone or core + user mixed at every token. */
export async function generateCausal(models: { core: CausalLm; user?: CausalLm }, r: CausalRequest): Promise<number[]> {
  const eos = models.core.manifest.eos_token_id;
  const limit = models.core.manifest.max_positions;
  let core = await models.core.feed(r.prompt);
  let user = models.user ? await models.user.feed([...(r.userContext ?? []), ...r.prompt]) : undefined;
  const out: number[] = [];
  while (out.length < r.maxTokens && core.length < limit && (!user || user.length < limit)) {
    const logits = suppressEarlyEos(
      user ? mixLogits(core.next, user.next, r.lambda ?? 0.5) : core.next,
      eos,
      (r.minTokens ?? 0) - out.length,
    );
    const token =
      r.projection === 'greedy'
        ? argmaxTokens(logits)[0]
        : project(logits, { kind: 'sample', topP: r.topP ?? 0.95, seed: r.seed ?? 0, block: 0, step: out.length })[0][0];
    if (token === eos) break;
    out.push(token);
    core = await models.core.feed([token], core);
    if (models.user && user) user = await models.user.feed([token], user);
  }
  return out;
}
