/**
 * npm run bench:step — the cost of one denoising step split into graph time (inside onnxruntime:
 * the denoiser and the step graphs) and host time (everything else), with the step math in the
 * step graphs against the TypeScript reference, for greedy, sample and multihot, with and without
 * a user model, at 1, 4 and 16 concurrent generations (one dynamic batch per step).
 * Bundles: a randomly initialised model of a real SSD-2 shape (GPT-2's 50,257-token vocabulary,
 * blocks of 25, hidden 768, 2 layers, made here by infra/training/export.py on first use) with a
 * small random user model of the same vocabulary, and the bundled core + user.
 * Writes bench/results/step.md (+ .json). Not a test: compare ratios measured in one run.
 */
import { denseStepMath, generateAll, referenceStepMath, type Denoiser, type StepMath } from '../shared/ssd2';
import { DEFAULT_TOP_K, wireView } from '../shared/protocol';
import { graphClock } from '../shared/runtime/graph-clock';
import { Admission, DynamicBatcher } from '../worker-gpu/src/engine/batcher';
import { loadLocalModel, type LocalModel } from '../worker-gpu/src/runtime/local-model';
import { parseCli } from '../tools/cli/args';
import { providersArg } from '../client/cli/common';
import { realShapeBundle } from './lib/bundles';
import { writeReport, type Row } from './lib/table';

const { values } = parseCli({
  usage: 'npm run bench:step [-- options]',
  flags: {
    suites: { type: 'string', arg: 'LIST', default: 'real-shape,bundled', help: 'the suites to run (real-shape, bundled)' },
    batches: { type: 'ints', min: 1, default: [1, 4, 16], help: 'concurrent generations (one dynamic batch per step)' },
    'reference-batches': {
      type: 'ints',
      min: 1,
      default: [1],
      help: 'batch sizes the TypeScript reference is also measured at (slow at the real vocabulary)',
    },
    steps: { type: 'int', min: 1, default: 6, help: 'denoising steps per block' },
    repeats: { type: 'int', min: 1, default: 3, help: 'runs per configuration; the median step time is reported' },
    providers: { type: 'string', arg: 'LIST', default: 'cpu', help: 'onnxruntime providers to try in order (cuda, webgpu, cpu)' },
    'step-graphs': {
      type: 'string',
      arg: 'MODE',
      choices: ['on', 'auto'],
      default: 'on',
      help: 'on: the step graphs at every size; auto: as served (TypeScript for small blocks)',
    },
    out: { type: 'string', arg: 'PATH', default: 'bench/results/step.md', help: 'report path (.json beside it)' },
  },
});
const batches = values.batches;
const referenceBatches = new Set(values['reference-batches']);
const steps = values.steps;
const repeats = values.repeats;
const providers = providersArg(values.providers);
const stepGraphs = values['step-graphs'] as 'on' | 'auto';
const load = (dir: string) => loadLocalModel(dir, providers, { stepGraphs });

interface Suite {
  name: string;
  core: LocalModel;
  user: LocalModel;
  blockSize: number;
}

async function suite(name: string): Promise<Suite> {
  if (name === 'real-shape') {
    const core = await load(await realShapeBundle('core'));
    const user = await load(await realShapeBundle('user'));
    return {
      name: `real shape (V 50257, B 25, hidden 768, 2 layers; user hidden 128), on ${core.denoiser.provider}`,
      core,
      user,
      blockSize: 25,
    };
  }
  if (name === 'bundled') {
    const core = await load('models/core');
    const user = await load('models/user');
    return {
      name: `bundled core + user (V ${core.bundle.manifest.vocab_size}, B ${core.bundle.manifest.block_size}), on ${core.denoiser.provider}`,
      core,
      user,
      blockSize: core.bundle.manifest.block_size,
    };
  }
  throw new Error(`--suites: unknown suite "${name}" (expected real-shape or bundled)`);
}

const batcher = (m: LocalModel): Denoiser =>
  new DynamicBatcher(m.denoiser, { windowMs: 1, maxBatch: 64, admission: new Admission(1 << 20) });

/** ms per lock-step step of `n` concurrent generations, and the share of it inside onnxruntime. */
async function measure(
  s: Suite,
  n: number,
  projection: 'greedy' | 'sample' | 'multihot',
  withUser: boolean,
  math: StepMath,
  /** Logits in the wire form (top k + floor), as the edge's per-step loop (and a worker's fused loop for a core alone) sees them. */
  wire = false,
): Promise<{ stepMs: number; graphMs: number }> {
  const view = (d: Denoiser) => (wire ? wireView(d, DEFAULT_TOP_K) : d);
  const core = view(batcher(s.core));
  const user = withUser ? view(batcher(s.user)) : undefined;
  const request = (i: number, count: number) => ({
    prompt: Array.from({ length: 16 }, (_, j) => (i * 97 + j * 31 + 1) % 1000),
    userContext: withUser ? [11, 12, 13] : undefined,
    steps: count,
    maxTokens: s.blockSize,
    blockSize: s.blockSize,
    projection,
    seed: i,
    earlyStopPatience: 0,
    stopAtEos: false,
    lambda: 0.5,
  });
  const run = (count: number) => Promise.all(Array.from({ length: n }, (_, i) => generateAll({ core, user, math }, request(i, count))));
  await run(1); // contexts encoded and cached, sessions opened
  const runs: { stepMs: number; graphMs: number }[] = [];
  for (let r = 0; r < repeats; r++) {
    const busy0 = graphClock.busyMs;
    const t0 = performance.now();
    await run(steps);
    const wall = performance.now() - t0;
    runs.push({ stepMs: wall / steps, graphMs: (graphClock.busyMs - busy0) / steps });
  }
  return runs.sort((a, b) => a.stepMs - b.stepMs)[Math.floor(runs.length / 2)];
}

const sections: { heading: string; rows: Row[]; note?: string }[] = [];
const title = 'Denoising step: graph time and host time';
const command = `npm run bench:step -- --providers ${values.providers} --step-graphs ${stepGraphs}`;
/** The suite being measured: its heading and the rows of the configurations measured so far. */
let current: { heading: string; rows: () => Row[] } | null = null;
// Stopped (bench/gpu-check.sh caps each benchmark's time): the report of what was measured.
process.once('SIGTERM', () => {
  const partial = current
    ? [...sections, { heading: `${current.heading} (stopped: the configurations measured so far)`, rows: current.rows() }]
    : sections;
  const measured = partial.filter((p) => p.rows.length > 0);
  if (measured.length > 0) writeReport(values.out!, title, measured, `${command} (stopped before the end)`);
  process.exit(143);
});
for (const name of values.suites!.split(',')) {
  const s = await suite(name);
  const projections = ['greedy', 'sample', 'multihot'] as const;
  const combos = [false, true].flatMap((withUser) => batches.map((n) => ({ withUser, n })));
  const key = (withUser: boolean, n: number, projection: string) => `${withUser}-${n}-${projection}`;
  const graph = new Map<string, { stepMs: number; graphMs: number }>();
  const each = new Map<string, { stepMs: number; graphMs: number }>();
  const ref = new Map<string, { stepMs: number; graphMs: number }>();
  /** The rows of the configurations measured so far (all of them once the three maps are filled). */
  const rowsSoFar = (): Row[] =>
    combos.flatMap(({ withUser, n }) => {
      const greedy = graph.get(key(withUser, n, 'greedy'));
      return projections.flatMap((projection): Row[] => {
        const g = graph.get(key(withUser, n, projection));
        if (!greedy || !g) return [];
        const r = ref.get(key(withUser, n, projection));
        return [
          {
            user: withUser ? 'yes' : 'no',
            batch: n,
            projection,
            'step ms': g.stepMs,
            'graph ms': g.graphMs,
            'host ms': g.stepMs - g.graphMs,
            'host %': `${Math.round((100 * (g.stepMs - g.graphMs)) / g.stepMs)}`,
            'x greedy': g.stepMs / greedy.stepMs,
            'ms per item-step': g.stepMs / n,
            'one run per generation: step ms': each.get(key(withUser, n, projection))?.stepMs ?? '-',
            'reference step ms': r ? r.stepMs : '-',
            'reference host %': r ? `${Math.round((100 * (r.stepMs - r.graphMs)) / r.stepMs)}` : '-',
          },
        ];
      });
    });
  current = { heading: s.name, rows: rowsSoFar };
  // Every step-graph measurement first, then the TypeScript reference: the reference's B x V
  // garbage would otherwise be collected during the graph measurements that follow it.
  for (const { withUser, n } of combos)
    for (const projection of projections)
      graph.set(key(withUser, n, projection), await measure(s, n, projection, withUser, s.core.denoiser.stepMath));
  // As served, the generations of one dynamic batch share a run of the step graphs; several
  // generations are also measured with one run each.
  for (const { withUser, n } of combos.filter((c) => c.n > 1))
    for (const projection of projections)
      each.set(key(withUser, n, projection), await measure(s, n, projection, withUser, s.core.denoiser.graphs.itemMath));
  for (const { withUser, n } of combos.filter((c) => referenceBatches.has(c.n)))
    for (const projection of projections)
      ref.set(key(withUser, n, projection), await measure(s, n, projection, withUser, referenceStepMath));
  const rows = rowsSoFar();
  for (const row of rows) console.error(JSON.stringify({ suite: name, ...row }));
  // The TypeScript step math on wire-form logits (what the edge's per-step loop runs): from the top
  // k and floors alone (`referenceStepMath`) against the same math on the densified rows.
  const wireRows: Row[] = [];
  for (const withUser of [false, true]) {
    for (const projection of projections) {
      const compact = await measure(s, 1, projection, withUser, referenceStepMath, true);
      const dense = await measure(s, 1, projection, withUser, denseStepMath, true);
      const row: Row = {
        user: withUser ? 'yes' : 'no',
        projection,
        'step ms': compact.stepMs,
        'host ms': compact.stepMs - compact.graphMs,
        'densified: step ms': dense.stepMs,
        'densified: host ms': dense.stepMs - dense.graphMs,
        'host time saved': `${((dense.stepMs - dense.graphMs) / Math.max(compact.stepMs - compact.graphMs, 1e-3)).toFixed(1)}x`,
      };
      console.error(JSON.stringify({ suite: name, wire: true, ...row }));
      wireRows.push(row);
    }
  }
  sections.push({
    heading: s.name,
    rows,
    note:
      `${steps} lock-step steps per generation after one warm-up step, the median of ${repeats} runs, early stopping off, λ 0.5, a ` +
      `prompt of 16 tokens. step ms: wall time per step of the whole batch; graph ms: wall time during which an onnxruntime session ran ` +
      `(denoiser, context encoder, step graphs); host ms: the rest (JavaScript). x greedy: step ms over the greedy step's at the same ` +
      `batch. The step graphs run the step math of one dynamic batch's generations in one run; one run per generation: the same ` +
      `steps with a run of the step graphs for each. reference: the same steps with the TypeScript step math (\`referenceStepMath\`).`,
  });
  sections.push({
    heading: `${s.name}: TypeScript step math on wire-form logits (top ${DEFAULT_TOP_K} + floor)`,
    rows: wireRows,
    note:
      `One generation, the models' logits in the wire form, as the edge's per-step loop (a client-side user model) and a worker's ` +
      `fused loop without step graphs see them. step ms / host ms: \`referenceStepMath\`, which reads only the top k and floors; ` +
      `densified: \`denseStepMath\` on the same logits expanded to B x V rows. Both give the same tokens.`,
  });
  current = null;
}
writeReport(values.out!, title, sections, command);
