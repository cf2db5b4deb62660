/**
 * npm run train:models [-- --only core,user --scale 1 --export-only]
 *   Trains and exports the bundled models end to end, stage by stage, here (CPU, or CUDA where
 *   PyTorch sees it). Each stage resumes from its checkpoint, so re-running continues where a run
 *   stopped; `--scale` multiplies every stage's time budget. Needs `npm run prepare:data` first.
 * npm run train:models -- --gpu-plan DIR
 *   Writes DIR/run.sh and DIR/data.tar.xz: the same stages for one GPU machine with no Node.js
 *   (infra/training/README.md, "On a GPU machine"): the chains run side by side on the GPU, each stage with the GPU batch
 *   and budget, and their weights come back as small files. `--import DIR` brings them back into
 *   .cache/runs so `--export-only` exports them.
 * --positions rotary trains the models that start from scratch with rotary positions (RoPE; see
 * infra/training/README.md for why the diffusion core needs it); --only also names the optional
 * experiment stages (core5, aligned, user-aligned, adapt, shift, shiftl and their follow-ups).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCli, usageError } from '../../tools/cli/args';
import { runTrainingScript } from './python';

const DATA = '.cache/data';
const RUNS = '.cache/runs';
const CORE = ['--hidden', '192', '--layers', '4', '--heads', '4', '--ffn', '768', '--max-positions', '384'];
const USER = ['--hidden', '64', '--layers', '2', '--heads', '4', '--ffn', '256', '--max-positions', '384'];
const VOCAB = ['--vocab-size', '4096', '--eos-id', '4095'];
const PRETRAIN = (data: string) => [
  '--data',
  `${DATA}/${data}`,
  '--val',
  `${DATA}/general.val.bin`,
  '--seq-len',
  '256',
  '--val-every',
  '200',
  '--keep-best',
];
const SFT = (rows: string, seqLen: number) => ['--sft', `${DATA}/${rows}`, '--seq-len', String(seqLen)];
const MIX = ['--mix-data', `${DATA}/general.train.bin`, '--mix-prob', '0.3'];
const AR = ['--objective', 'causal-lm'];
const from = (stage: string) => ['--init', `${RUNS}/${stage}`];
/** Tokens per block the bundled core and user model are trained on (one: the causal LM's next token plus the evidence). */
const CORE_BLOCK = 1;
/**
 * How the bundled core, core-hi and user model are served: their one-token weights re-exported with
 * blocks of 8 under a staggered schedule of 3 steps per position (stagger_bundle.py; docs/model-bundle.md).
 */
const SERVED_BLOCKS = { blockSize: 8, window: 3, version: '0.2.0' };
/** Adapting an AR run into a diffusion model that keeps its next-token readout and adds the noisy evidence. */
const ADAPT_WITH_EVIDENCE = (blockSize: number) => [
  '--objective',
  'diffusion',
  '--shifted',
  '--likelihood',
  '--block-size',
  String(blockSize),
  '--lm-weight',
  '0.5',
];
/** A timestep-specialised copy of a run for t/T in (0.8, 1], on the instruction mix. */
const HIGH_NOISE = (stage: string, lr: string) => [
  ...from(stage),
  ...SFT('instructions.train.ids.jsonl', 100),
  ...MIX,
  '--t-range',
  '0.8',
  '1.0',
  '--lr',
  lr,
  '--warmup',
  '20',
];

export interface Stage {
  name: string;
  /** Stages of one chain run one after another; chains run side by side on a GPU. */
  chain: 'aligned' | 'user-aligned' | 'core-ar' | 'user-ar' | 'adapt' | 'adapt-noaux' | 'shift' | 'shift5' | 'core5';
  /** Trained only when --only names it (ablations). */
  optional?: boolean;
  /** Training-time budget in minutes on this CPU and on one GPU. */
  minutes: { cpu: number; gpu: number };
  /** Sequences per step on this CPU and on one GPU. */
  batch: { cpu: number; gpu: number };
  args: string[];
  /**
   * candidate: exported under .cache/candidates/, not over a bundled model. stagger: the export
   * re-exported with multi-token blocks under a staggered schedule (stagger_bundle.py).
   */
  export?: { name: string; role: 'core' | 'user' | 'baseline'; candidate?: boolean; stagger?: typeof SERVED_BLOCKS };
}

export const STAGES: Stage[] = [
  {
    name: 'core-ar',
    chain: 'core-ar',
    minutes: { cpu: 30, gpu: 3.4 },
    batch: { cpu: 16, gpu: 64 },
    args: [...AR, ...VOCAB, ...CORE, ...PRETRAIN('general.train.bin'), '--lr', '1.5e-3', '--warmup', '200'],
  },
  {
    name: 'core-ar-sft',
    chain: 'core-ar',
    minutes: { cpu: 6, gpu: 1.2 },
    batch: { cpu: 16, gpu: 64 },
    args: [...from('core-ar'), ...SFT('instructions.train.ids.jsonl', 100), ...MIX, '--lr', '6e-4', '--warmup', '50'],
    export: { name: 'core-ar', role: 'baseline' },
  },
  {
    name: 'user-ar',
    chain: 'user-ar',
    minutes: { cpu: 8, gpu: 2.0 },
    batch: { cpu: 16, gpu: 64 },
    args: [...AR, ...VOCAB, ...USER, ...PRETRAIN('user.train.bin'), '--lr', '2e-3', '--warmup', '100'],
  },
  {
    name: 'user-ar-sft',
    chain: 'user-ar',
    minutes: { cpu: 5, gpu: 1.6 },
    batch: { cpu: 16, gpu: 64 },
    args: [...from('user-ar'), ...SFT('user-qa.train.ids.jsonl', 200), '--lr', '1e-3', '--warmup', '50'],
    export: { name: 'user-ar', role: 'baseline' },
  },
  // The core is the AR model core-ar-sft adapted into a diffusion model with a shifted readout and
  // the noisy evidence (docs/model-bundle.md), on instruction rows mixed with general text: the
  // network's logits are the prior of a block, the evidence makes them its posterior. Blocks of
  // CORE_BLOCK tokens: what this model size learns to predict jointly (infra/training/README.md).
  {
    name: 'core',
    chain: 'core-ar',
    minutes: { cpu: 10, gpu: 1.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [
      ...from('core-ar-sft'),
      ...ADAPT_WITH_EVIDENCE(CORE_BLOCK),
      ...SFT('instructions.train.ids.jsonl', 100),
      ...MIX,
      '--lr',
      '3e-4',
      '--warmup',
      '50',
    ],
    export: { name: 'core', role: 'core', stagger: SERVED_BLOCKS },
  },
  {
    name: 'core-hi',
    chain: 'core-ar',
    minutes: { cpu: 5, gpu: 0.5 },
    batch: { cpu: 16, gpu: 128 },
    args: HIGH_NOISE('core', '3e-4'),
    export: { name: 'core-hi', role: 'core', stagger: SERVED_BLOCKS },
  },
  // The one-token core trained on its staggered blocks (a t per position, as the sampler visits
  // them), on windows that follow one another and on overlapping ones, so that several positions can
  // denoise at once: a candidate served with a window start every step (B + 2 steps per block of 8).
  {
    name: 'overlap',
    chain: 'core-ar',
    optional: true,
    minutes: { cpu: 15, gpu: 3.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [
      ...from('core'),
      '--stagger',
      String(SERVED_BLOCKS.window),
      '--block-size',
      String(SERVED_BLOCKS.blockSize),
      '--stagger-strides',
      '1,2,3',
      '--stagger-stride',
      '1',
      '--lm-weight',
      '0.5',
      ...SFT('instructions.train.ids.jsonl', 100),
      ...MIX,
      '--lr',
      '1e-4',
      '--warmup',
      '20',
    ],
    export: { name: 'core-overlap', role: 'core', candidate: true },
  },
  // The user model the same way: user-ar-sft adapted, on its private-context QA rows.
  {
    name: 'user',
    chain: 'user-ar',
    minutes: { cpu: 5, gpu: 0.5 },
    batch: { cpu: 16, gpu: 128 },
    args: [
      ...from('user-ar-sft'),
      ...ADAPT_WITH_EVIDENCE(CORE_BLOCK),
      ...SFT('user-qa.train.ids.jsonl', 200),
      '--lr',
      '3e-4',
      '--warmup',
      '20',
    ],
    export: { name: 'user', role: 'user', stagger: SERVED_BLOCKS },
  },
  // Experiments (run only when --only names them; infra/training/README.md has their results):
  // the core adapted from the trained AR baseline (as SSD-LM starts from RoBERTa), with and
  // without the auxiliary next-token loss on the context. Both export as candidates for models/core.
  {
    name: 'adapt',
    chain: 'adapt',
    optional: true,
    minutes: { cpu: 55, gpu: 5.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [
      ...from('core-ar-sft'),
      '--objective',
      'diffusion',
      '--lm-weight',
      '0.5',
      ...PRETRAIN('general.train.bin'),
      '--lr',
      '1e-3',
      '--warmup',
      '200',
    ],
  },
  {
    name: 'adapt-sft',
    chain: 'adapt',
    optional: true,
    minutes: { cpu: 10, gpu: 1.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('adapt'), ...SFT('instructions.train.ids.jsonl', 100), ...MIX, '--lm-weight', '0.5', '--lr', '6e-4', '--warmup', '50'],
    export: { name: 'core-adapt', role: 'core', candidate: true },
  },
  {
    name: 'adapt-hi',
    chain: 'adapt',
    optional: true,
    minutes: { cpu: 5, gpu: 0.5 },
    batch: { cpu: 16, gpu: 128 },
    args: HIGH_NOISE('adapt-sft', '4e-4'),
    export: { name: 'core-adapt-hi', role: 'core', candidate: true },
  },
  {
    name: 'adapt-noaux',
    chain: 'adapt-noaux',
    optional: true,
    minutes: { cpu: 55, gpu: 5.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('core-ar-sft'), '--objective', 'diffusion', ...PRETRAIN('general.train.bin'), '--lr', '1e-3', '--warmup', '200'],
  },
  // The bundled core's recipe with blocks of 5 (the next GPU run): five tokens per denoising step
  // where the bundled core reads one, if the network learns to read its neighbours' noisy states.
  {
    name: 'core5',
    chain: 'core5',
    optional: true,
    minutes: { cpu: 40, gpu: 6.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('core-ar-sft'), ...ADAPT_WITH_EVIDENCE(5), ...PRETRAIN('general.train.bin'), '--lr', '6e-4', '--warmup', '100'],
  },
  {
    name: 'core5-sft',
    chain: 'core5',
    optional: true,
    minutes: { cpu: 10, gpu: 1.5 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('core5'), ...SFT('instructions.train.ids.jsonl', 100), ...MIX, '--lm-weight', '0.5', '--lr', '3e-4', '--warmup', '50'],
    export: { name: 'core5', role: 'core', candidate: true },
  },
  {
    name: 'core5-hi',
    chain: 'core5',
    optional: true,
    minutes: { cpu: 5, gpu: 0.7 },
    batch: { cpu: 16, gpu: 128 },
    args: HIGH_NOISE('core5-sft', '3e-4'),
    export: { name: 'core5-hi', role: 'core', candidate: true },
  },
  // A diffusion core trained from scratch with an aligned readout and blocks of 25, and its user
  // model (candidates, not bundled): its samples repeat frequent words, and with the user model they
  // collapse into repeated letters (infra/training/README.md).
  {
    name: 'aligned',
    chain: 'aligned',
    optional: true,
    minutes: { cpu: 55, gpu: 3.0 },
    batch: { cpu: 16, gpu: 64 },
    args: [...VOCAB, ...CORE, ...PRETRAIN('general.train.bin'), '--lr', '1.5e-3', '--warmup', '200'],
  },
  {
    name: 'aligned-sft',
    chain: 'aligned',
    optional: true,
    minutes: { cpu: 10, gpu: 1.0 },
    batch: { cpu: 16, gpu: 64 },
    args: [...from('aligned'), ...SFT('instructions.train.ids.jsonl', 100), ...MIX, '--lr', '6e-4', '--warmup', '50'],
    export: { name: 'core-aligned', role: 'core', candidate: true },
  },
  {
    name: 'aligned-hi',
    chain: 'aligned',
    optional: true,
    minutes: { cpu: 5, gpu: 0.5 },
    batch: { cpu: 16, gpu: 64 },
    args: HIGH_NOISE('aligned-sft', '4e-4'),
    export: { name: 'core-aligned-hi', role: 'core', candidate: true },
  },
  {
    name: 'user-aligned',
    chain: 'user-aligned',
    optional: true,
    minutes: { cpu: 12, gpu: 2.0 },
    batch: { cpu: 16, gpu: 64 },
    args: [...VOCAB, ...USER, ...PRETRAIN('user.train.bin'), '--lr', '2e-3', '--warmup', '100'],
  },
  {
    name: 'user-aligned-sft',
    chain: 'user-aligned',
    optional: true,
    minutes: { cpu: 8, gpu: 1.6 },
    batch: { cpu: 16, gpu: 64 },
    args: [...from('user-aligned'), ...SFT('user-qa.train.ids.jsonl', 200), '--lr', '1e-3', '--warmup', '50'],
    export: { name: 'user-aligned', role: 'user', candidate: true },
  },
  // The same adaptation with a shifted readout (docs/model-bundle.md): the AR model keeps its
  // next-token readout, so a block's first token is AR-quality from the first step of training.
  // Sized for one GPU call (8.2 min); candidates for models/core and models/core-hi.
  // --lm-weight: with a shifted readout the auxiliary next-token loss trains the very readout of a
  // block's first token, which drifted from 3.97 to 4.47 nats in 200 CPU steps without it.
  {
    name: 'shift',
    chain: 'shift',
    optional: true,
    minutes: { cpu: 40, gpu: 6.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [
      ...from('core-ar-sft'),
      '--objective',
      'diffusion',
      '--shifted',
      '--lm-weight',
      '0.5',
      ...PRETRAIN('general.train.bin'),
      '--lr',
      '1e-3',
      '--warmup',
      '200',
    ],
  },
  {
    name: 'shift-sft',
    chain: 'shift',
    optional: true,
    minutes: { cpu: 10, gpu: 1.5 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('shift'), ...SFT('instructions.train.ids.jsonl', 100), ...MIX, '--lr', '6e-4', '--warmup', '50'],
    export: { name: 'core-shift', role: 'core', candidate: true },
  },
  {
    name: 'shift-hi',
    chain: 'shift',
    optional: true,
    minutes: { cpu: 5, gpu: 0.7 },
    batch: { cpu: 16, gpu: 128 },
    args: HIGH_NOISE('shift-sft', '4e-4'),
    export: { name: 'core-shift-hi', role: 'core', candidate: true },
  },
  // The shifted core with blocks of 5 (continues the shift run; the block size is a training layout,
  // not a weight shape). A 3.4 M model cannot predict 25 tokens from a context at once; 5 it can.
  // Its samples still did not settle: a shifted readout sees its own position's noisy input only
  // through attention, so every step resampled each token from its neighbours.
  {
    name: 'shift5',
    chain: 'shift5',
    optional: true,
    minutes: { cpu: 20, gpu: 3.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('shift'), '--block-size', '5', '--lm-weight', '0.5', ...PRETRAIN('general.train.bin'), '--lr', '6e-4', '--warmup', '50'],
  },
  // ...so the denoiser adds each position's own log-likelihood to its logits (--likelihood,
  // ModelConfig.likelihood): the network's logits are the prior, the sum the posterior.
  {
    name: 'shiftl',
    chain: 'shift5',
    optional: true,
    minutes: { cpu: 40, gpu: 4.0 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('shift5'), '--likelihood', '--lm-weight', '0.5', ...PRETRAIN('general.train.bin'), '--lr', '6e-4', '--warmup', '50'],
  },
  {
    name: 'shiftl-sft',
    chain: 'shift5',
    optional: true,
    minutes: { cpu: 10, gpu: 1.5 },
    batch: { cpu: 16, gpu: 128 },
    args: [...from('shiftl'), ...SFT('instructions.train.ids.jsonl', 100), ...MIX, '--lr', '6e-4', '--warmup', '50'],
    export: { name: 'core-shiftl', role: 'core', candidate: true },
  },
  {
    name: 'shiftl-hi',
    chain: 'shift5',
    optional: true,
    minutes: { cpu: 5, gpu: 0.7 },
    batch: { cpu: 16, gpu: 128 },
    args: HIGH_NOISE('shiftl-sft', '4e-4'),
    export: { name: 'core-shiftl-hi', role: 'core', candidate: true },
  },
];

/** The block size the stage exporting bundle `name` trains on (its --block-size), if a stage exports it. */
export function trainedBlockSize(name: string): number | undefined {
  const args = STAGES.find((s) => s.export?.name === name)?.args;
  const i = args?.indexOf('--block-size') ?? -1;
  return i >= 0 ? Number(args![i + 1]) : undefined;
}

/** Where a stage's exported model goes: servable bundles in models/, baselines in models/baselines/. */
export function exportDir(stage: Stage): string {
  if (stage.export!.candidate) return `.cache/candidates/${stage.export!.name}`;
  return stage.export!.role === 'baseline' ? `models/baselines/${stage.export!.name}` : `models/${stage.export!.name}`;
}

/** How the run is asked for: budgets scaled, and the position encoding of models trained from scratch. */
interface RunOptions {
  scale: number;
  positions?: 'learned' | 'rotary';
}

function trainArgs(stage: Stage, device: 'cpu' | 'gpu', { scale, positions }: RunOptions): string[] {
  // A stage that starts from another run keeps that run's architecture.
  const fresh = positions && initStageName(stage) === undefined ? ['--positions', positions] : [];
  const common = [
    '--out',
    join(RUNS, stage.name),
    ...stage.args,
    ...fresh,
    '--steps',
    '1000000',
    '--batch',
    String(stage.batch[device]),
    '--max-minutes',
    String(stage.minutes[device] * scale),
    '--log-every',
    '20',
    '--save-every',
    device === 'gpu' ? '500' : '100',
  ];
  return device === 'gpu' ? [...common, '--amp', '--threads', '4'] : [...common, '--threads', '2'];
}

/** The checkpoint a stage's export uses: the best validation weights where they were kept. */
function checkpointOf(stage: string): string {
  const best = join(RUNS, stage, 'best.pt');
  return existsSync(best) ? best : join(RUNS, stage, 'checkpoint.pt');
}

const TRAINING_FILES = [
  'general.train.bin',
  'general.val.bin',
  'user.train.bin',
  'instructions.train.ids.jsonl',
  'user-qa.train.ids.jsonl',
  'tokenizer.json',
  'manifest.json',
];

/** The stages a run trains: those --only names, else every stage that is not optional. */
export function selectedStages(only?: string[]): Stage[] {
  const unknown = only?.filter((name) => !STAGES.some((s) => s.name === name)) ?? [];
  if (unknown.length) throw new Error(`--only: unknown stage ${unknown.join(', ')} (stages: ${STAGES.map((s) => s.name).join(', ')})`);
  return STAGES.filter((s) => (only ? only.includes(s.name) : !s.optional));
}

/** The stage whose run a stage starts from (--init RUNS/<name>), if any. */
export function initStageName(stage: Stage): string | undefined {
  const at = stage.args.indexOf('--init');
  return at < 0 ? undefined : stage.args[at + 1].slice(RUNS.length + 1);
}

/** Runs a selected stage starts from that the selection does not train (trained here before). */
function initsFromOutside(stages: Stage[]): string[] {
  const inits = stages.map(initStageName).filter((name): name is string => name !== undefined);
  return [...new Set(inits)].filter((name) => !stages.some((s) => s.name === name));
}

/**
 * The selected stages by chain, in order. A chain that starts from a run another selected chain
 * trains (shift from core-ar-sft) runs after that chain, in the same sequence, not beside it.
 */
export function chainsOf(stages: Stage[]): Map<string, Stage[]> {
  const sequenceOf = new Map<string, string>(); // a stage's chain -> the sequence it runs in
  const sequences = new Map<string, Stage[]>();
  for (const stage of stages) {
    let sequence = sequenceOf.get(stage.chain);
    if (sequence === undefined) {
      // STAGES lists a run before the stages that start from it, so its sequence is known here.
      const producer = stages.find((s) => s.name === initStageName(stage));
      sequence = producer ? sequenceOf.get(producer.chain)! : stage.chain;
      sequenceOf.set(stage.chain, sequence);
    }
    sequences.set(sequence, [...(sequences.get(sequence) ?? []), stage]);
  }
  return sequences;
}

/** run.sh for a GPU machine: python3 with CUDA, run from the project root with DIR carried. */
async function writeGpuPlan(dir: string, run: RunOptions, stages: Stage[]) {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'data.tar.xz')))
    execFileSync('bash', ['-c', `tar cf - -C ${DATA} ${TRAINING_FILES.join(' ')} | xz -T2 -6 > ${join(dir, 'data.tar.xz')}`], {
      stdio: 'inherit',
    });
  // Runs the selection starts from travel as float16 weights and are unpacked there.
  const inits = initsFromOutside(stages);
  if (inits.length) {
    mkdirSync(join(dir, 'init'), { recursive: true });
    await runTrainingScript('weights_npz.py', ['pack', join(dir, 'init'), ...inits], (l) => console.log(`  ${l}`));
  }
  const chains = chainsOf(stages);
  const lines = [
    '#!/bin/bash',
    '# Generated by `npm run train:models -- --gpu-plan DIR`; run on the GPU machine from the project root:',
    '#   bash DIR/run.sh OUT      (weights come back as OUT/<stage>.npz, logs as OUT/logs.tar.gz)',
    'set -u; OUT=${1:?OUT}; DIR=$(dirname "$0"); mkdir -p .cache/data "$OUT" .cache/runs',
    '${PYTHON:-python3} -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$DIR/data.tar.xz" .cache/data',
    'nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; ${PYTHON:-python3} -c "import torch; print(torch.__version__, ' +
      'torch.cuda.is_available())"',
    'PY=${PYTHON:-python3}; T="$PY infra/training/train.py"; export PYTHONUNBUFFERED=1',
    ...inits.map(
      (name) =>
        `mkdir -p .cache/runs/${name} && $PY infra/training/weights_npz.py unpack "$DIR/init/${name}.npz" .cache/runs/${name}/best.pt`,
    ),
    ...[...chains].map(([chain, chainStages]) => {
      const steps = chainStages.map(
        (s) =>
          `$T ${trainArgs(s, 'gpu', run)
            .map((a) => `'${a}'`)
            .join(' ')}`,
      );
      return `( ${steps.join(' && ')} ) > .cache/runs/${chain}.log 2>&1 &`;
    }),
    'wait',
    'for c in ' +
      [...chains.keys()].join(' ') +
      '; do echo "== $c"; grep -v "^step" .cache/runs/$c.log | tail -n 12; grep "^step" .cache/runs/$c.log | tail -n 2; done',
    // Weights only, float16 (infra/training/weights_npz.py; `--import` unpacks them).
    `$PY infra/training/weights_npz.py pack "$OUT" ${stages
      .filter((s) => s.export)
      .map((s) => s.name)
      .join(' ')}`,
    'tar czf "$OUT/logs.tar.gz" .cache/runs/*.log .cache/runs/*/loss.jsonl',
  ];
  writeFileSync(join(dir, 'run.sh'), lines.join('\n') + '\n');
  console.log(`wrote ${dir}/run.sh and ${dir}/data.tar.xz`);
}

/** Brings a GPU run's weights back as .cache/runs/<stage>/best.pt (float32 again) + its logs. */
async function importGpuRun(dir: string) {
  execFileSync('tar', ['xzf', join(dir, 'logs.tar.gz')], { stdio: 'inherit' });
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.npz'))) {
    const stage = file.replace(/\.npz$/, '');
    mkdirSync(join(RUNS, stage), { recursive: true });
    await runTrainingScript('weights_npz.py', ['unpack', join(dir, file), join(RUNS, stage, 'best.pt')]);
    console.log(`imported ${stage}`);
  }
}

async function main() {
  const { values } = parseCli({
    usage: 'npm run train:models [-- options]',
    about: 'Trains the stages of STAGES (infra/training/train-models.ts) in order on this machine and exports their bundles.',
    flags: {
      only: { type: 'string', arg: 'LIST', help: 'the stages to run, comma-separated (default: every bundled stage)' },
      scale: { type: 'number', above: 0, default: 1, help: "multiplies every stage's minutes budget" },
      positions: {
        type: 'string',
        arg: 'KIND',
        choices: ['learned', 'rotary'],
        help: 'position encoding of the models trained from scratch (default: learned)',
      },
      'export-only': { type: 'boolean', help: 'export the stages from their existing runs, without training' },
      'gpu-plan': { type: 'string', arg: 'DIR', help: 'write a script and the tokenized data for a GPU machine to DIR instead' },
      import: { type: 'string', arg: 'DIR', help: "bring a GPU run's weights and logs back, then export" },
    },
  });
  let stages: Stage[] = [];
  try {
    stages = selectedStages(values.only?.split(','));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (!existsSync(`${DATA}/manifest.json`)) usageError(`${DATA}/manifest.json not found: run npm run prepare:data first`);
  const run: RunOptions = { scale: values.scale, positions: values.positions as RunOptions['positions'] };
  if (values['gpu-plan']) return writeGpuPlan(values['gpu-plan'], run, stages);
  if (values.import) await importGpuRun(values.import);
  mkdirSync('models/training-logs', { recursive: true });
  for (const stage of stages) {
    if (!values['export-only'] && !values.import) {
      console.log(`== ${stage.name}: up to ${stage.minutes.cpu * run.scale} min`);
      await runTrainingScript('train.py', trainArgs(stage, 'cpu', run), (l) => console.log(`  ${l}`));
    }
    const log = join(RUNS, stage.name, 'loss.jsonl');
    if (existsSync(log)) cpSync(log, `models/training-logs/${stage.name}.loss.jsonl`);
    if (stage.export) {
      const role = stage.export.role === 'baseline' ? 'core' : stage.export.role;
      const { stagger } = stage.export;
      const out = stagger ? join('.cache/one-token', stage.export.name) : exportDir(stage);
      await runTrainingScript(
        'export.py',
        [
          '--checkpoint',
          checkpointOf(stage.name),
          '--tokenizer',
          `${DATA}/tokenizer.json`,
          '--name',
          stage.export.name,
          '--role',
          role,
          '--weights-dtype',
          'float16',
          '--out',
          out,
        ],
        (l) => console.log(`  ${l}`),
      );
      if (stagger) {
        const args = ['--bundle', out, '--block-size', String(stagger.blockSize), '--window', String(stagger.window)];
        await runTrainingScript('stagger_bundle.py', [...args, '--version', stagger.version, '--out', exportDir(stage)], (l) =>
          console.log(`  ${l}`),
        );
      }
    }
  }
  mkdirSync('models/eval-data', { recursive: true });
  for (const f of ['general.val.txt', 'general.test.txt', 'user-qa.test.jsonl']) cpSync(join(DATA, f), join('models/eval-data', f));
  cpSync(`${DATA}/manifest.json`, 'models/eval-data/data-manifest.json');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
