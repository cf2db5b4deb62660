import { NUCLEUS_CANDIDATES } from '../ssd2/projection';
import { NOISE_ROW_STRIDE, NOISE_TABLE_SIZE } from '../ssd2/noise';
import { GraphBuilder } from './onnx-builder';

/**
 * The per-step math of SSD-2 as ONNX graphs, built for one vocabulary size. Each mirrors a
 * TypeScript reference in shared/ssd2 (named below); the tests hold them to it. Batch-major
 * shapes: n items of B positions over V tokens.
 */

const N = 'n';
const B = 'b';

/**
 * noisySimplex: offsets [n,B] (each row's window in the noise table, in chunks of NOISE_ROW_STRIDE), hot [n,B,m] (the estimate's
 * ids) with hot_weight [n,B,m] (1 for an id, 0 for padding), scale [n,B], signal [n,B] (per row) -> simplex
 * [n,B,V] with entry fround(fround(table[offset + v]·scale) ± signal): −signal everywhere, then the
 * estimate's entries written again with +signal (padding writes its entry's −signal value again).
 */
export function noisyBlockGraph(vocabSize: number, table: Float32Array): Uint8Array {
  if (table.length !== NOISE_TABLE_SIZE) throw new RangeError(`noise table of ${table.length} entries, expected ${NOISE_TABLE_SIZE}`);
  const g = new GraphBuilder('ssd2_noisy_block');
  // Row windows start on a chunk of NOISE_ROW_STRIDE entries: a row is `chunks` whole rows of the table seen as [rows, stride].
  const offsets = g.input('offsets', 'int64', [N, B]); // the window's first chunk
  const hot = g.input('hot', 'int64', [N, B, 'm']);
  const weight = g.input('hot_weight', 'float32', [N, B, 'm']);
  const scale = g.input('scale', 'float32', [N, B]);
  const signal = g.input('signal', 'float32', [N, B]);
  const chunks = Math.ceil(vocabSize / NOISE_ROW_STRIDE);
  const index = g.op('Add', [
    g.op('Unsqueeze', [offsets, g.ints([2])]),
    g.constant(
      BigInt64Array.from({ length: chunks }, (_, c) => BigInt(c)),
      [chunks],
    ),
  ]);
  // [n,B,chunks,stride]
  const rows = g.op('Gather', [g.constant(table, [table.length / NOISE_ROW_STRIDE, NOISE_ROW_STRIDE]), index], { axis: 0 });
  const flat = g.op('Reshape', [rows, g.ints([0, 0, chunks * NOISE_ROW_STRIDE])]);
  const window = chunks * NOISE_ROW_STRIDE === vocabSize ? flat : g.op('Slice', [flat, g.ints([0]), g.ints([vocabSize]), g.ints([2])]);
  const perRow = (x: string) => g.op('Unsqueeze', [x, g.ints([2])]);
  const noise = g.op('Mul', [window, perRow(scale)]);
  const s = perRow(signal);
  // Both sums are single float32 roundings of the same operands as the TypeScript's.
  const base = g.op('Sub', [noise, s]);
  const sign = g.op('Sub', [g.op('Mul', [weight, g.float(2)]), g.float(1)]); // exactly ±1
  const updates = g.op('Add', [g.op('GatherElements', [noise, hot], { axis: 2 }), g.op('Mul', [s, sign])]);
  g.output('simplex', g.op('ScatterElements', [base, hot, updates], { axis: 2 }), 'float32', [N, B, vocabSize]);
  return g.toBytes();
}

/** densifyTopK: ids [n,B,k], values [n,B,k], floors [n,B] -> dense [n,B,V] (the floor everywhere but the k ids). */
export function densifyGraph(vocabSize: number): Uint8Array {
  const g = new GraphBuilder('ssd2_densify');
  const ids = g.input('ids', 'int64', [N, B, 'k']);
  const values = g.input('values', 'float32', [N, B, 'k']);
  const floors = g.input('floors', 'float32', [N, B]);
  const shape = g.op('Concat', [g.op('Slice', [g.op('Shape', [ids]), g.ints([0]), g.ints([2])]), g.ints([vocabSize])], { axis: 0 });
  const base = g.op('Expand', [g.op('Unsqueeze', [floors, g.ints([2])]), shape]);
  g.output('dense', g.op('ScatterElements', [base, ids, values], { axis: 2 }), 'float32', [N, B, vocabSize]);
  return g.toBytes();
}

/**
 * topKLogits (the wire form): logits [n,B,V], k [1] -> ids [n,B,k] and values (largest first, ties
 * by lower id), floors [n,B] = log-mean-exp of the other V - k logits. Needs k < V.
 */
export function compactGraph(vocabSize: number): Uint8Array {
  const g = new GraphBuilder('ssd2_compact');
  const logits = g.input('logits', 'float32', [N, B, vocabSize]);
  const k = g.input('k', 'int64', [1]);
  const [values, ids] = g.node('TopK', [logits, k], { axis: 2, largest: 1, sorted: 1 }, 2);
  const rest = g.op('ScatterElements', [logits, ids, g.op('Expand', [g.float(-Infinity), g.op('Shape', [values])])], { axis: 2 });
  const count = g.op('Cast', [g.op('Sub', [g.ints([vocabSize]), k])], { to: 1 });
  g.output('values', values, 'float32', [N, B, 'k']);
  g.output('ids', ids, 'int64', [N, B, 'k']);
  g.output('floors', g.op('Sub', [g.op('ReduceLogSumExp', [rest], { axes: [2], keepdims: 0 }), g.op('Log', [count])]), 'float32', [N, B]);
  return g.toBytes();
}

/** mixLogits: core [n,B,V], user [n,B,V], lambda [n] -> mixed [n,B,V] = (1-λ)·log_softmax(core) + λ·log_softmax(user). */
export function mixGraph(vocabSize: number): Uint8Array {
  const g = new GraphBuilder('ssd2_mix');
  const core = g.input('core', 'float32', [N, B, vocabSize]);
  const user = g.input('user', 'float32', [N, B, vocabSize]);
  const lambda = perItem(g, g.input('lambda', 'float32', [N]));
  g.output('mixed', mix(g, core, user, lambda), 'float32', [N, B, vocabSize]);
  return g.toBytes();
}

function mix(g: GraphBuilder, core: string, user: string, lambda: string): string {
  const logSoftmax = (l: string) => g.op('Sub', [l, g.op('ReduceLogSumExp', [l], { axes: [2], keepdims: 1 })]);
  return g.op('Add', [g.op('Mul', [g.op('Sub', [g.float(1), lambda]), logSoftmax(core)]), g.op('Mul', [lambda, logSoftmax(user)])]);
}

export interface StepGraphVariant {
  /** Mix in a user model: inputs user [n,B,V] and lambda [n]. */
  user: boolean;
  /** Suppress EOS where suppress [n,B] is true. */
  eos: boolean;
  /** Compute the top-p nucleus of logits / temperature and a draw from it: inputs uniforms [n,B], top_p [n], temperature [n]. */
  nucleus: boolean;
}

/** How many candidates the nucleus graph orders for a vocabulary: NUCLEUS_CANDIDATES, at most V. */
const nucleusCandidates = (vocabSize: number): number => Math.min(NUCLEUS_CANDIDATES, vocabSize);

/**
 * The step math (StepMath in shared/ssd2/kernel.ts): mixLogits, suppressEarlyEos, argmaxTokens,
 * the top token's probability and the nucleus projections. Outputs argmax [n,B] and top_prob
 * [n,B]; with `nucleus`, nucleus_ids [n,B,c] (probability descending, ties by lower id),
 * nucleus_size [n,B] and sampled [n,B] (the id the uniform draws by walking the nucleus).
 */
export function stepGraph(vocabSize: number, eosTokenId: number, variant: StepGraphVariant): Uint8Array {
  const g = new GraphBuilder('ssd2_step');
  const core = g.input('core', 'float32', [N, B, vocabSize]);
  let x = core;
  if (variant.user) {
    const user = g.input('user', 'float32', [N, B, vocabSize]);
    const lambda = perItem(g, g.input('lambda', 'float32', [N]));
    x = mix(g, core, user, lambda);
  }
  if (variant.eos) {
    const suppress = g.input('suppress', 'bool', [N, B]);
    const column = g.op('Gather', [x, g.ints(eosTokenId)], { axis: 2 });
    const updated = g.op('Unsqueeze', [g.op('Where', [suppress, g.float(-Infinity), column]), g.ints([2])]);
    const at = g.op('Expand', [g.constant(BigInt64Array.of(BigInt(eosTokenId)), [1, 1, 1], 'int64'), g.op('Shape', [updated])]);
    x = g.op('ScatterElements', [x, at, updated], { axis: 2 });
  }
  const lse = g.op('ReduceLogSumExp', [x], { axes: [2], keepdims: 1 });
  const max = g.op('ReduceMax', [x], { axes: [2], keepdims: 1 });
  g.output('argmax', g.op('ArgMax', [x], { axis: 2, keepdims: 0 }), 'int64', [N, B]);
  g.output('top_prob', g.op('Squeeze', [g.op('Exp', [g.op('Sub', [max, lse])]), g.ints([2])]), 'float32', [N, B]);
  if (variant.nucleus) {
    const uniforms = g.input('uniforms', 'float32', [N, B]);
    const topP = perItem(g, g.input('top_p', 'float32', [N]));
    // The nucleus is taken over x / temperature (a division by 1 changes nothing).
    const scaled = g.op('Div', [x, perItem(g, g.input('temperature', 'float32', [N]))]);
    const scaledLse = g.op('ReduceLogSumExp', [scaled], { axes: [2], keepdims: 1 });
    const c = nucleusCandidates(vocabSize);
    const [values, ids] = g.node('TopK', [scaled, g.ints([c])], { axis: 2, largest: 1, sorted: 1 }, 2);
    const mass = g.op('CumSum', [g.op('Exp', [g.op('Sub', [values, scaledLse])]), g.ints(2)]);
    const countBelow = (limit: string) =>
      g.op('ReduceSum', [g.op('Cast', [g.op('Less', [mass, limit])], { to: 1 }), g.ints([2])], { keepdims: 1 });
    // The nucleus is the shortest prefix whose mass reaches top_p (all c candidates at most).
    const size = g.op('Min', [g.op('Add', [countBelow(topP), g.float(1)]), g.float(c)]);
    const last = g.op('Cast', [g.op('Sub', [size, g.float(1)])], { to: 7 });
    const total = g.op('GatherElements', [mass, last], { axis: 2 });
    // The draw: the first candidate whose running mass reaches uniform·(nucleus mass).
    const target = g.op('Mul', [g.op('Unsqueeze', [uniforms, g.ints([2])]), total]);
    const pick = g.op('Min', [g.op('Cast', [countBelow(target)], { to: 7 }), last]);
    g.output('nucleus_ids', ids, 'int64', [N, B, c]);
    g.output('nucleus_size', g.op('Squeeze', [g.op('Cast', [size], { to: 7 }), g.ints([2])]), 'int64', [N, B]);
    g.output('sampled', g.op('Squeeze', [g.op('GatherElements', [ids, pick], { axis: 2 }), g.ints([2])]), 'int64', [N, B]);
  }
  return g.toBytes();
}

/** A per-item scalar [n] as [n,1,1], to broadcast over positions and tokens. */
function perItem(g: GraphBuilder, value: string): string {
  return g.op('Reshape', [value, g.ints([-1, 1, 1])]);
}
