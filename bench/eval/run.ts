/**
 * npm run eval [-- --quick] — quality evaluation of the bundled models with the TypeScript engine.
 * Prints tables and writes models/EVAL.md (+ models/eval/*.json, *.png).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { topKFlag } from '../../tools/cli/top-k-flag';
import { parseCli } from '../../tools/cli/args';
import { spawnSync } from 'node:child_process';
import {
  defaultStepsFor,
  generateAll,
  logSoftmax,
  parseGenerateOptions,
  type Denoiser,
  type GenerationRequest,
  type LambdaSchedule,
} from '../../shared/ssd2';
import { instructionPrompt, privateContextPrefix } from '../../shared/prompt/instruction';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import { pythonExecutable } from '../../infra/training/python';
import { trainedBlockSize } from '../../infra/training/train-models';
import { distinctN, shuffleWords, tokenF1, TrigramModel } from './metrics';
import { CausalLm, generateCausal, type CausalRequest } from './causal-lm';
import { markdownTable, type Row } from '../lib/table';
import { fusedModels } from '../../shared/protocol';

const { values } = parseCli({
  usage: 'npm run eval [-- options]',
  flags: {
    quick: { type: 'boolean', help: 'a few samples per section (a smoke run, minutes)' },
    core: { type: 'string', arg: 'DIR', default: 'models/core', help: 'the core bundle' },
    variant: { type: 'string', arg: 'DIR', default: 'models/core-hi', help: 'its timestep-specialised checkpoint' },
    user: { type: 'string', arg: 'DIR', default: 'models/user', help: 'the user model bundle' },
    'core-ar': {
      type: 'string',
      arg: 'DIR',
      default: 'models/baselines/core-ar',
      help: "the core's autoregressive baseline (used when present)",
    },
    'user-ar': { type: 'string', arg: 'DIR', default: 'models/baselines/user-ar', help: "the user model's autoregressive baseline" },
    data: { type: 'string', arg: 'DIR', default: 'models/eval-data', help: 'the evaluation text' },
    out: { type: 'string', arg: 'PATH', default: 'models/EVAL.md', help: 'the report (tables and pictures go to eval/ beside it)' },
    steps: { type: 'int', min: 1, help: "denoising steps per block of the core's size (default: the engine's default for the core)" },
    'commit-confidence': {
      type: 'number',
      arg: 'P',
      min: 0,
      max: 1,
      help: "the commit_confidence of every generation (default: the engine's)",
    },
    temperature: { type: 'number', arg: 'T', min: 0, max: 2, help: "the temperature of every SSD-2 generation (default: the engine's, 1)" },
    'top-k': topKFlag(),
  },
});
const quick = values.quick!;
const N = { loss: quick ? 4 : 64, fluency: quick ? 3 : 50, ablation: quick ? 2 : 12, qa: quick ? 3 : 30 };
const started = performance.now();
const outDir = join(values.out!, '..', 'eval');
mkdirSync(outDir, { recursive: true });

const [core, variant, user] = await Promise.all([values.core!, values.variant!, values.user!].map((d) => loadLocalModel(d)));
const codec = core.codec;
// The autoregressive baselines (same network, data and tokenizer), where they were exported.
const baselines =
  existsSync(join(values['core-ar']!, 'manifest.json')) && existsSync(join(values['user-ar']!, 'manifest.json'))
    ? { core: await CausalLm.load(values['core-ar']!), user: await CausalLm.load(values['user-ar']!) }
    : null;
for (const [flag, lm] of [
  ['core-ar', baselines?.core],
  ['user-ar', baselines?.user],
] as const) {
  if (lm && lm.manifest.vocab_size !== core.bundle.manifest.vocab_size)
    throw new Error(`--${flag}: vocabulary of ${lm.manifest.vocab_size} tokens, the core's is ${core.bundle.manifest.vocab_size}`);
}
const lines = (f: string) =>
  readFileSync(join(values.data!, f), 'utf8')
    .split('\n')
    .filter((l) => l.trim());
const valText = lines('general.val.txt');
const testText = lines('general.test.txt');
const qaRows = lines('user-qa.test.jsonl')
  .map((l) => JSON.parse(l) as { instruction: string; context: string; response: string })
  .slice(0, N.qa);
const sections: { heading: string; rows: Row[]; note?: string }[] = [];
const results: Record<string, unknown> = { sizes: N };
const log = (s: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${s}`);

// 1. Held-out denoising loss: cross-entropy of the clean block under the model at fixed t/T,
// every model on blocks of the core's size (the size generation uses).
const lossBlock = core.bundle.manifest.block_size;
function denoisingLoss(model: LocalModel, fraction: number): Promise<number> {
  return (async () => {
    let total = 0;
    let count = 0;
    const stream = codec.encode(testText.join('\n'));
    for (let i = 0; i < N.loss; i++) {
      const start = 64 + ((i * 997) % Math.max(1, stream.length - 200));
      const context = stream.slice(start - 64, start);
      const block = stream.slice(start, start + lossBlock);
      const steps = 100;
      const noise = {
        seed: 1000 + i,
        block: 0,
        step: steps - Math.round(fraction * steps),
        steps,
        estimate: block.map((t) => [t]),
        blockLength: lossBlock,
      };
      const [logits] = await model.denoiser.denoise([{ context, noise, selfCond: null }]);
      const lp = logSoftmax(logits).data;
      block.forEach((tok, p) => (total -= lp[p * logits.vocabSize + tok]));
      count += block.length;
    }
    return total / count;
  })();
}
const lossRows: Row[] = [];
for (const [name, model] of [
  ['core', core],
  ['core-hi (0.8,1]', variant],
  ['user', user],
] as const) {
  const row: Row = { model: name };
  for (const f of [0.2, 0.5, 0.8, 0.9]) row[`t/T=${f}`] = await denoisingLoss(model, f);
  lossRows.push(row);
}
sections.push({
  heading: `Held-out denoising loss (cross-entropy per token, general test text, context 64, block ${lossBlock})`,
  rows: lossRows,
  note:
    'The core-hi variant is trained only for t/T in (0.8, 1]; its numbers below 0.8 are outside its range and shown for contrast.' +
    (core.denoiser.info.blockSchedule?.kind === 'staggered'
      ? " Under the staggered block schedule a column is the loop's progress, not one noise level: at t/T = f the first " +
        'positions of the block are clean and the rest pure noise, and the loss averages both.'
      : ''),
});
results.loss = lossRows;
log('denoising loss done');

// 2. Fluency: continuations of held-out paragraphs, scored by a word-trigram model built from validation text.
const trigram = new TrigramModel(valText);
const paragraphs = testText.filter((t) => t.split(' ').length >= 45);
const prompts = paragraphs.map((t) => t.split(' ').slice(0, 12).join(' '));
const human = paragraphs.map((t) => t.split(' ').slice(12, 42).join(' '));
// Denoising steps per block: two per token, at least 10 (50 for blocks of 25).
const lossSchedule = core.denoiser.info.blockSchedule;
// Generations decode as the API's GPU workers do (--top-k 0: every logit).
const topK = values['top-k'];
/**
 * The models as a GPU worker's fused loop decodes them (`fusedModels`): a core alone from each
 * step's top-k logits, a core with a user model (λ not 0 throughout) from both models' full logits.
 */
const asServed = (m: { core: Denoiser | Denoiser[]; user?: Denoiser }, lambda?: LambdaSchedule) =>
  topK === 0 ? m : fusedModels(m.core, m.user, topK, lambda);
const defaultSteps = values.steps ?? defaultStepsFor(lossBlock, lossSchedule);
const commitConfidence = values['commit-confidence'] ?? parseGenerateOptions({}).commitConfidence;
const temperature = values.temperature ?? parseGenerateOptions({}).temperature;
const base: Partial<GenerationRequest> = {
  steps: defaultSteps,
  maxTokens: 40,
  topP: 0.95,
  projection: 'sample',
  earlyStopPatience: 5,
  commitConfidence,
  temperature,
};

async function continuations(models: { core: Denoiser | Denoiser[] }, n: number, extra: Partial<GenerationRequest> = {}) {
  const texts: string[] = [];
  let stepsRun = 0;
  let stepsSaved = 0;
  let tokens = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await generateAll(asServed(models), { ...base, ...extra, prompt: codec.encode(prompts[i]), seed: i });
    texts.push(codec.decode(r.tokens).replace(/\s+/g, ' ').trim());
    stepsRun += r.stepsRun;
    stepsSaved += r.stepsSaved;
    tokens += r.tokens.length;
  }
  return { texts, stepsRun, stepsSaved, tokens, seconds: (performance.now() - t0) / 1000 };
}
const gen = await continuations({ core: core.denoiser }, N.fluency);
results.samples = gen.texts.slice(0, 5).map((t, i) => ({ prompt: prompts[i], continuation: t }));
const arTexts: string[] = [];
const arSpeed = { tokens: 0, seconds: 0 };
if (baselines) {
  const t0 = performance.now();
  for (let i = 0; i < N.fluency; i++) {
    const tokens = await generateCausal(
      { core: baselines.core },
      { prompt: codec.encode(prompts[i]), maxTokens: base.maxTokens!, projection: 'sample', topP: base.topP, seed: i },
    );
    arTexts.push(codec.decode(tokens).replace(/\s+/g, ' ').trim());
    arSpeed.tokens += tokens.length;
  }
  arSpeed.seconds = (performance.now() - t0) / 1000;
  results.arSamples = arTexts.slice(0, 3).map((t, i) => ({ prompt: prompts[i], continuation: t }));
}
/** Generative perplexity: each continuation scored after its prompt by the autoregressive baseline core. */
async function generativePerplexity(texts: readonly string[]): Promise<number | string> {
  if (!baselines) return '-';
  let nll = 0;
  let tokens = 0;
  for (const [i, text] of texts.entries()) {
    const scored = await baselines.core.negLogLikelihood(codec.encode(prompts[i]), codec.encode(` ${text}`));
    nll += scored.nll;
    tokens += scored.tokens;
  }
  return Math.exp(nll / Math.max(1, tokens));
}
const fluencyTexts: [string, string[]][] = [
  [`generated (core, ${N.fluency} continuations)`, gen.texts],
  ...(baselines
    ? [[`generated (autoregressive baseline core-ar, same size and data, top-p ${base.topP})`, arTexts] as [string, string[]]]
    : []),
  ['held-out human text', human.slice(0, N.fluency)],
  ['held-out human text, words shuffled', shuffleWords(human.slice(0, N.fluency))],
];
const fluencyRows: Row[] = [];
for (const [text, texts] of fluencyTexts) {
  fluencyRows.push({
    text,
    'trigram ppl': trigram.perplexity(texts),
    'generative ppl (core-ar)': await generativePerplexity(texts),
    'distinct-2': distinctN(texts),
  });
}
sections.push({
  heading:
    'Fluency (perplexity under a word-trigram model of the validation text, and under the autoregressive baseline; lower is more fluent)',
  rows: fluencyRows,
  note:
    'Generative perplexity: exp of the mean negative log-likelihood of each continuation after its prompt under ' +
    'models/baselines/core-ar (the standard measure of SSD-LM and block-diffusion papers). core-ar scores its own samples too, which ' +
    'flatters that row. ' +
    (topK > 0
      ? `Every SSD-2 generation here decodes as the API's GPU workers do (the text the API gives for the same seed): the core alone from each step's top-${topK} logits, the core with a user model from both models' full logits.`
      : 'Every SSD-2 generation here reads every logit of each step (--top-k 0), not the top-k the API decodes from.'),
});
results.fluency = fluencyRows;
// Speed of the same continuations on this runtime (onnxruntime-node, CPU, one generation at a time).
const fullSchedule = await continuations({ core: core.denoiser }, N.fluency, { earlyStopPatience: 0 });
const speedRow = (setting: string, r: typeof gen): Row => ({
  model: `core (blocks of ${lossBlock}, ${defaultSteps} steps per block, ${setting})`,
  'tokens generated': r.tokens,
  'denoiser calls per token': r.stepsRun / Math.max(1, r.tokens),
  'tokens/s': r.tokens / r.seconds,
});
const speedRows: Row[] = [
  speedRow('early stopping on', gen),
  speedRow('early stopping off', fullSchedule),
  ...(baselines
    ? [
        {
          model: 'AR baseline core-ar (KV cache)',
          'tokens generated': arSpeed.tokens,
          'denoiser calls per token': 1,
          'tokens/s': arSpeed.tokens / arSpeed.seconds,
        },
      ]
    : []),
];
sections.push({
  heading: 'Speed (the fluency continuations above, this runtime)',
  rows: speedRows,
  note:
    'A denoiser call runs one step for one block of the core; the AR baseline runs one step per token.' +
    (lossSchedule?.kind === 'staggered'
      ? ` With early stopping on, a position whose top token is already at least ${commitConfidence} ` +
        'probable ends its window at once (commit_confidence); off, every position runs its whole window.'
      : ''),
});
results.speed = speedRows;
log('fluency done');

// 3. Context QA: the answer is only in the private context the user model sees.
/** A question's prompt and its private context, cut to leave `contextLimit` room for a 50-token answer. */
function qaInputs(row: (typeof qaRows)[number], contextLimit: number) {
  const prompt = codec.encode(instructionPrompt({ instruction: row.instruction }));
  const secret = codec.encode(privateContextPrefix(row.context)).slice(0, Math.max(0, contextLimit - prompt.length - 50));
  return { prompt, secret };
}
async function qa(
  models: { core: Denoiser | Denoiser[]; user?: Denoiser },
  lambda: number,
  extra: Partial<GenerationRequest> = {},
  userAlone = false,
  n = N.qa,
) {
  let f1 = 0;
  let stepsRun = 0;
  const answers: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = qaRows[i];
    const { prompt, secret } = qaInputs(row, user.bundle.manifest.max_context);
    const request: GenerationRequest = {
      ...base,
      projection: 'greedy',
      maxTokens: 50,
      ...extra,
      prompt: userAlone ? [...secret, ...prompt] : prompt,
      userContext: models.user ? secret : undefined,
      lambda,
      seed: i,
    };
    const r = await generateAll(asServed(models, request.lambda), request);
    const answer = codec.decode(r.tokens).split('\n')[0].trim();
    answers.push(answer);
    f1 += tokenF1(answer, row.response);
    stepsRun += r.stepsRun;
  }
  return { f1: f1 / n, stepsRun, answers };
}
const qaRowsOut: Row[] = [];
const coreAlone = await qa({ core: core.denoiser }, 0);
qaRowsOut.push({ setting: 'core alone (no context)', λ: '-', F1: coreAlone.f1 });
const userAlone = await qa({ core: user.denoiser }, 0, {}, true);
qaRowsOut.push({ setting: 'user alone (with private context)', λ: '-', F1: userAlone.f1 });
const f1ByLambda: { lambda: number; f1: number }[] = [{ lambda: 0, f1: coreAlone.f1 }];
for (const lambda of [0.25, 0.5, 0.75]) {
  const r = await qa({ core: core.denoiser, user: user.denoiser }, lambda);
  qaRowsOut.push({ setting: 'core + user (diffusion collaboration)', λ: lambda, F1: r.f1 });
  f1ByLambda.push({ lambda, f1: r.f1 });
  if (lambda === 0.5)
    results.qaExamples = qaRows
      .slice(0, 3)
      .map((row, i) => ({ question: row.instruction, gold: row.response, core: coreAlone.answers[i], collaboration: r.answers[i] }));
}
f1ByLambda.push({ lambda: 1, f1: (await qa({ core: core.denoiser, user: user.denoiser }, 1)).f1 });

/** The same questions decoded token by token by the autoregressive baselines (greedy, as above). */
async function arQa(lambda: number | null, userAlone = false) {
  let f1 = 0;
  const answers: string[] = [];
  for (const row of qaRows) {
    const { prompt, secret } = qaInputs(row, baselines!.user.manifest.max_positions);
    const request: CausalRequest = { prompt: userAlone ? [...secret, ...prompt] : prompt, maxTokens: 50, projection: 'greedy' };
    const tokens = userAlone
      ? await generateCausal({ core: baselines!.user }, request)
      : await generateCausal(lambda === null ? { core: baselines!.core } : { core: baselines!.core, user: baselines!.user }, {
          ...request,
          userContext: secret,
          lambda: lambda ?? 0,
        });
    const answer = codec.decode(tokens).split('\n')[0].trim();
    answers.push(answer);
    f1 += tokenF1(answer, row.response);
  }
  return { f1: f1 / qaRows.length, answers };
}
const arF1ByLambda: { lambda: number; f1: number }[] = [];
if (baselines) {
  const arCore = await arQa(null);
  qaRowsOut.push({ setting: 'AR baseline: core alone (no context)', λ: '-', F1: arCore.f1 });
  qaRowsOut.push({ setting: 'AR baseline: user alone (with private context)', λ: '-', F1: (await arQa(null, true)).f1 });
  arF1ByLambda.push({ lambda: 0, f1: arCore.f1 });
  for (const lambda of [0.25, 0.5, 0.75]) {
    const r = await arQa(lambda);
    qaRowsOut.push({ setting: 'AR baseline: core + user (token-by-token collaboration)', λ: lambda, F1: r.f1 });
    arF1ByLambda.push({ lambda, f1: r.f1 });
  }
  arF1ByLambda.push({ lambda: 1, f1: (await arQa(1)).f1 });
  results.arF1ByLambda = arF1ByLambda;
}
const gain = (pts: { lambda: number; f1: number }[]) =>
  Math.max(...pts.filter((p) => p.lambda > 0 && p.lambda < 1).map((p) => p.f1)) / Math.max(pts[0].f1, 1e-9);
results.collaborationGain = { diffusion: gain(f1ByLambda), autoregressive: baselines ? gain(arF1ByLambda) : null };
sections.push({
  heading: `Collaboration on context QA (${N.qa} held-out Jargon File questions; token F1 against the first sentence of the definition)`,
  rows: qaRowsOut,
  note:
    `Best core+user F1 over core-alone F1 (λ in 0.25/0.5/0.75): diffusion ` +
    `${gain(f1ByLambda).toFixed(2)}x${baselines ? `, autoregressive ${gain(arF1ByLambda).toFixed(2)}x` : ''}. The AR baseline is the ` +
    `same network trained by the same script on the same data with a causal objective (models/baselines/), decoded greedily token by ` +
    `token, mixing log-probabilities with the same λ.`,
});
results.qa = qaRowsOut;
results.f1ByLambda = f1ByLambda;
log('QA done');

// 4. Ablations on a smaller slice: early stopping, self-conditioning, the timestep-specialised variant.
const ablationRows: Row[] = [];
const ablate = async (name: string, coreModels: Denoiser | Denoiser[], extra: Partial<GenerationRequest>) => {
  const flu = await continuations({ core: coreModels }, N.ablation, extra);
  const q = await qa({ core: coreModels, user: user.denoiser }, 0.5, extra, false, N.ablation);
  ablationRows.push({
    setting: name,
    'fluency ppl': trigram.perplexity(flu.texts),
    'QA F1 (λ=0.5)': q.f1,
    'steps run (fluency)': flu.stepsRun,
    'steps saved': flu.stepsSaved,
  });
  return flu;
};
const defaultFluency = await ablate('default: early stop k=5, self-conditioning, core only', core.denoiser, {});
await ablate('no early stopping (k = 0)', core.denoiser, { earlyStopPatience: 0 });
await ablate('self-conditioning off', core.denoiser, { selfConditioning: false });
await ablate('with core-hi variant for t/T in (0.8,1]', [core.denoiser, variant.denoiser], {});
// A shifted readout reads a block's first token from the context's last hidden state, so at block
// size 1 nothing of the block's input (self-conditioning included) reaches the logits.
const shiftedSingle = (m: LocalModel) => m.bundle.manifest.architecture.readout === 'shifted' && lossBlock === 1;
const selfCondNote = !shiftedSingle(core)
  ? undefined
  : `The core${shiftedSingle(user) ? ' and the user model read' : ' reads'} each block out shifted (docs/model-bundle.md) and the blocks ` +
    `hold one token: the logits are the prior given the ` +
    `context${core.bundle.manifest.architecture.likelihood ? ' plus the noisy evidence' : ''}, so self-conditioning, which enters ` +
    `through the block's own input, cannot change ` +
    `them${shiftedSingle(user) ? '' : ' (fluency); in the QA column it still reaches the user model'}.`;
const [defaultRow, noEarlyStop] = ablationRows;
const saved = defaultRow['steps saved'] as number;
const scheduled = (defaultRow['steps run (fluency)'] as number) + saved;
const staggeredNote =
  lossSchedule?.kind === 'staggered'
    ? ' Under the staggered schedule both rows end a block once the positions it keeps are clean (the same tokens), which ' +
      'saves steps in both; with early stopping on, a confident position also ends its window at once (commit_confidence), ' +
      'which changes the tokens that follow it.'
    : '';
const earlyStopping =
  `Early stopping (k = 5${lossSchedule?.kind === 'staggered' ? ', confident positions committed' : ''})` +
  `${lossSchedule?.kind === 'staggered' ? ', and blocks ending once the positions they keep were clean,' : ''} ` +
  `saved ${saved} of the ${scheduled} steps its blocks were scheduled ` +
  `(${((100 * saved) / scheduled).toFixed(1)} %), at fluency ${(defaultRow['fluency ppl'] as number).toFixed(0)} against ` +
  `${(noEarlyStop['fluency ppl'] as number).toFixed(0)} with early stopping off.${staggeredNote}`;
sections.push({
  heading: `Ablations (${N.ablation} prompts / questions each, ${defaultSteps} steps per block of ${lossBlock})`,
  rows: ablationRows,
  note: [earlyStopping, selfCondNote].filter(Boolean).join(' '),
});
results.ablations = ablationRows;
log('ablations done');

// 5. Quality against steps (the default point is the default ablation above: same prompts, same settings).
const stepsRows: Row[] = [];
const sweep = quick ? [Math.ceil(defaultSteps / 2)] : [0.2, 0.5].map((f) => Math.max(2, Math.round(f * defaultSteps)));
for (const steps of sweep) {
  const flu = await continuations({ core: core.denoiser }, N.ablation, { steps });
  const q = await qa({ core: core.denoiser, user: user.denoiser }, 0.5, { steps }, false, N.ablation);
  stepsRows.push({
    steps,
    'fluency ppl': trigram.perplexity(flu.texts),
    'distinct-2': distinctN(flu.texts),
    'QA F1 (λ=0.5)': q.f1,
    'steps run': flu.stepsRun,
  });
}
stepsRows.push({
  steps: defaultSteps,
  'fluency ppl': defaultRow['fluency ppl'],
  'distinct-2': distinctN(defaultFluency.texts),
  'QA F1 (λ=0.5)': defaultRow['QA F1 (λ=0.5)'],
  'steps run': defaultRow['steps run (fluency)'],
});
stepsRows.sort((a, b) => (a.steps as number) - (b.steps as number));
sections.push({ heading: 'Quality against denoising steps per block', rows: stepsRows });
results.steps = stepsRows;
log('steps sweep done');

// 6. Quality against block size: how many tokens the core denoises at once (the same prompts as 4 and 5).
const blockRows: Row[] = [];
for (const blockSize of (quick ? [1] : [1, 2, 4, 8, 16]).filter((b) => b < lossBlock)) {
  const flu = await continuations({ core: core.denoiser }, N.ablation, { blockSize, steps: defaultStepsFor(blockSize, lossSchedule) });
  blockRows.push({
    'block size': blockSize,
    'steps per block': defaultStepsFor(blockSize, lossSchedule),
    'fluency ppl': trigram.perplexity(flu.texts),
    'distinct-2': distinctN(flu.texts),
    'steps run': flu.stepsRun,
  });
}
// The model's own block size is the default ablation above.
blockRows.push({
  'block size': lossBlock,
  'steps per block': defaultSteps,
  'fluency ppl': defaultRow['fluency ppl'],
  'distinct-2': distinctN(defaultFluency.texts),
  'steps run': defaultRow['steps run (fluency)'],
});
// A bundle re-exported with a staggered schedule (stagger_bundle.py) was trained on the blocks of its source's stage.
const staggeredFrom = (core.bundle.manifest.training?.staggered_from as { bundle?: string } | undefined)?.bundle;
const trainedBlock = staggeredFrom ? trainedBlockSize(staggeredFrom.split('@')[0]) : lossBlock;
const served = staggeredFrom
  ? `, and is served with blocks of ${lossBlock} under a staggered schedule (${staggeredFrom}, the same weights)`
  : '';
sections.push({
  heading: 'Quality against block size',
  rows: blockRows,
  note:
    trainedBlock === undefined
      ? `The core is ${staggeredFrom} served with blocks of ${lossBlock} under a staggered schedule.`
      : trainedBlock === 1
        ? `The core was trained on blocks of 1, the smallest${served}; infra/training/README.md compares cores trained on larger blocks.`
        : `The core was trained on blocks of ${trainedBlock}${served}; a smaller block at generation reads fewer tokens out at once.`,
});
results.blockSizes = blockRows;
log('block size sweep done');

// Pictures (matplotlib), then the report.
writeFileSync(join(outDir, 'eval.json'), JSON.stringify(results, null, 2));
const logsDir = join('models', 'training-logs');
const runs = existsSync(logsDir)
  ? readdirSync(logsDir)
      .filter((f) => f.endsWith('.loss.jsonl'))
      .sort()
      .map((f) => join(logsDir, f))
  : [];
const plot = spawnSync(pythonExecutable(), ['bench/eval/plots.py', join(outDir, 'eval.json'), outDir, ...runs], { encoding: 'utf8' });
const pictures = plot.status === 0 ? plot.stdout.trim().split('\n').filter(Boolean) : [];
if (plot.status !== 0) console.error(`plots skipped: ${plot.stderr.trim().split('\n').at(-1)}`);
const seconds = (performance.now() - started) / 1000;
const md = [
  '# Evaluation of the bundled models',
  '',
  `Command: \`npm run eval${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` · ${seconds.toFixed(0)} s on CPU · models: ` +
    [core, variant, user]
      .map((m) => `${m.bundle.manifest.name} (${(m.bundle.manifest.architecture.parameters / 1e6).toFixed(2)} M)`)
      .join(', '),
  '',
  ...sections.flatMap((s) => [`## ${s.heading}`, '', markdownTable(s.rows), '', ...(s.note ? [s.note, ''] : [])]),
  '## Samples',
  '',
  ...(results.samples as { prompt: string; continuation: string }[]).map((s) => `- **${s.prompt}** ${s.continuation}`),
  '',
  ...((results.arSamples as { prompt: string; continuation: string }[] | undefined) ?? []).map(
    (s) => `- AR baseline: **${s.prompt}** ${s.continuation}`,
  ),
  '',
  ...((results.qaExamples as { question: string; gold: string; core: string; collaboration: string }[] | undefined) ?? []).flatMap((e) => [
    `- ${e.question} — gold: "${e.gold}" · core: "${e.core}" · core+user: "${e.collaboration}"`,
  ]),
  '',
  ...pictures.map((p) => `![${p}](eval/${p})`),
  '',
].join('\n');
writeFileSync(values.out!, md);
console.log(md);
