/**
 * npm run model-cards — writes models/README.md from the bundles' manifests (training facts
 * recorded by export.py), the stage definitions of train-models.ts and the data manifest.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseCli } from '../../tools/cli/args';
import { exportDir, initStageName, STAGES } from './train-models';

parseCli({
  usage: 'npm run model-cards',
  about: 'Writes models/README.md (and prints it) from the bundles in models/, their training logs and the data manifest.',
  flags: {},
});

const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const data = existsSync('models/eval-data/data-manifest.json') ? read('models/eval-data/data-manifest.json') : null;

/** Where a logged run trained: train.py records it; older logs tell by throughput (an H100 ran
 * ~300 k tokens/s, this CPU under 1 k). */
const deviceOf = (row: { device?: string; tokens_per_s: number }) => row.device ?? (row.tokens_per_s > 20_000 ? 'gpu' : 'cpu');

/** A staggered schedule in words: the window, the stride when windows overlap, the block attention. */
const staggeredNote = (schedule: { kind: string; window?: number; stride?: number } | undefined, attention = 'bidirectional') =>
  schedule?.kind === 'staggered'
    ? ` (staggered: up to ${schedule.window} steps per position${schedule.stride ? `, a window start every ${schedule.stride}` : ''}, ` +
      `${attention} attention inside the block)`
    : '';
const dirOf = (name: string) => {
  const stage = STAGES.find((s) => s.export?.name === name);
  return stage ? exportDir(stage) : `models/${name}`;
};
const cards = ['core', 'core-hi', 'user', 'core-ar', 'user-ar', 'tiny-core']
  .filter((name) => existsSync(`${dirOf(name)}/manifest.json`))
  .map((name) => {
    const m = read(`${dirOf(name)}/manifest.json`);
    const a = m.architecture;
    const t = m.training ?? {};
    const bytes = (m.files ?? []).reduce((s: number, f: { bytes: number }) => s + f.bytes, 0);
    const stages = STAGES.filter((s) => s.export?.name === name);
    const chain: string[] = [];
    for (let s = stages[0]; s; ) {
      chain.unshift(s.name);
      const init = initStageName(s);
      s = STAGES.find((x) => x.name === init)!;
    }
    const logs = chain.map((stage) => {
      const path = `models/training-logs/${stage}.loss.jsonl`;
      const minutes = STAGES.find((s) => s.name === stage)!.minutes;
      if (!existsSync(path)) return `| ${stage} | gpu ${minutes.gpu} | - | - | - | - |`;
      const rows = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const last = rows.at(-1);
      const device = deviceOf(last);
      // Minutes the run took where logged, else the stage's budget on that device.
      const budget = `${device} ${last.elapsed_s ? (last.elapsed_s / 60).toFixed(1) : minutes[device as 'cpu' | 'gpu']}`;
      const vals = rows.filter((r) => r.val_loss !== undefined);
      const best = vals.length ? vals.reduce((a, b) => (b.val_loss < a.val_loss ? b : a)) : null;
      return (
        `| ${stage} | ${budget} | ${last.step} | ${last.tokens_seen} | ${last.loss.toFixed(3)} | ` +
        `${best ? `${best.val_loss.toFixed(3)} at step ${best.step} (exported / next stage's start)` : '-'} |`
      );
    });
    const baseline = m.format === 'causal-lm-baseline';
    const bytes2 = baseline
      ? ['lm.onnx', 'tokenizer.json'].reduce((sum, f) => sum + readFileSync(`${dirOf(name)}/${f}`).byteLength, 0)
      : bytes;
    return [
      `## ${name}`,
      '',
      baseline
        ? `**Autoregressive baseline** (evaluation only, \`${dirOf(name)}/lm.onnx\`, not a servable bundle): the same network as the ` +
          `${name.replace('-ar', '')} model trained by the same script on the same data with \`--objective causal-lm\` · ` +
          `${(a.parameters / 1e6).toFixed(2)} M parameters in use (${a.layers} layers × ${a.hidden} hidden, ${a.heads} heads, FFN ` +
          `${a.ffn}; the diffusion model's extra simplex input layer is absent) · weights stored as ${a.dtype} ` +
          `(${(bytes2 / 2 ** 20).toFixed(1)} MiB on disk).`
        : `Role **${m.role}** · ${(a.parameters / 1e6).toFixed(2)} M parameters (${a.layers} layers × ${a.hidden} hidden, ${a.heads} ` +
          `heads, FFN ${a.ffn}) · vocabulary ${m.vocab_size} · block ${m.block_size}` +
          `${staggeredNote(m.block_schedule, a.block_attention)} · readout ` +
          `${a.readout ?? 'aligned'}${a.likelihood ? ' + noisy evidence' : ''} · context ${m.max_context} tokens · t/T range ` +
          `(${m.timestep_range.join(', ')}] · self-conditioning ${m.self_conditioning ? 'yes' : 'no'} · weights stored as ${a.dtype} ` +
          `(${(bytes / 2 ** 20).toFixed(1)} MiB on disk).`,
      '',
      name === 'tiny-core'
        ? `A placeholder that proves the pipeline: \`npm run train:tiny -- --steps ${t.step} --hidden ${a.hidden} --layers ${a.layers}\` ` +
          `(train:tiny's defaults) on \`tests/fixtures/tiny-corpus.txt\` (20 lines), ${m.vocab_size}-token tokenizer.`
        : `Stages ${chain.join(' → ')} (\`infra/training/train-models.ts\` lists every flag). Final stage: ${t.step ?? '?'} steps, ` +
          `${t.tokens_seen ?? '?'} tokens, ${((t.elapsed_s ?? 0) / 60).toFixed(1)} min, final training loss ` +
          `${t.final_loss?.toFixed?.(3) ?? '?'}${t.val_loss ? `, validation loss ${t.val_loss.toFixed(3)}` : ''}.`,
      '',
      ...(name === 'tiny-core'
        ? []
        : [
            '| stage | trained on, minutes | steps | tokens seen | last logged training loss | best validation loss (general val text) |',
            '| --- | --- | --- | --- | --- | --- |',
            ...logs,
            '',
          ]),
    ].join('\n');
  });

const sources = data
  ? [
      '| source | package | licence | used for |',
      '| --- | --- | --- | --- |',
      ...data.sources.map((s: Record<string, string>) => `| ${s.id} | ${s.package} | ${s.licence} | ${s.use} |`),
      '',
      `Documents by source after deduplication: ${Object.entries(data.documents_by_source)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}. Tokenizer: a byte-level BPE of ${data.vocab_size} tokens (<|endoftext|> = ${data.eos_token_id}) trained on the ` +
        'training split (general text, Jargon File, instruction rows) with Hugging Face `tokenizers` ' +
        '(infra/data/train_tokenizer.py), read by @huggingface/tokenizers at serving time.',
    ]
  : ['(run `npm run prepare:data` and `npm run train:models`)'];

const md = [
  '# Bundled models',
  '',
  'Hardware: the autoregressive chains (core-ar, user-ar) were trained on one NVIDIA H100 80GB (PyTorch 2.11, CUDA 13, bf16 autocast), ' +
    'in about 5 minutes of wall time: `npm run prepare:data && npm run train:models -- --gpu-plan .gpu-train --only ' +
    'core-ar,core-ar-sft,user-ar,user-ar-sft` wrote a script and the tokenized data, `bash .gpu-train/run.sh OUT` ran the chains side by ' +
    'side on the one GPU, the weights came back as float16 .npz files and `npm run train:models -- --import OUT --export-only` exported ' +
    'them here (PyTorch 1.13, CPU). The core, core-hi and user models are those AR models (core-ar-sft, user-ar-sft) ' +
    'adapted into diffusion models with a shifted readout, the noisy evidence and blocks of one token ' +
    '(docs/model-bundle.md), on a 2-core CPU (`npm run train:models -- --only core,core-hi,user`, 20 minutes, starting ' +
    'from the AR runs in `.cache/runs`), then served with blocks of 8 under a staggered schedule: each position runs 3 denoising ' +
    'steps after the positions before it, with causal attention inside the block (`npm run convert -- --stagger`, the same weights; ' +
    'docs/model-bundle.md, "Block schedule"). Diffusion models trained from scratch with blocks of 25 (stages aligned*, ' +
    'user-aligned*, not bundled) write repeated frequent words (and, with the user model, repeated letters). ' +
    '`npm run train:models` without flags runs every bundled stage on the CPU with the `cpu` budgets. Quality is ' +
    'measured in [EVAL.md](EVAL.md): the core writes English shaped like sentences, rarely meaningful; these are ' +
    'small, briefly trained models.',
  '',
  '## Data',
  '',
  ...sources,
  '',
  '## Chat format',
  '',
  'The core is instruction-tuned on `Instruction: <instruction>\\n[Context: <context>\\n]Response:` followed by one space, the response ' +
    "and `<|endoftext|>` (`shared/prompt/instruction.ts`; /v1/chat/completions uses the same template). A user model's private context " +
    'goes in front of the same prompt as `Context: <text>\\n` and only the user model sees it.',
  '',
  ...cards,
].join('\n');
writeFileSync('models/README.md', md + '\n');
console.log(md);
