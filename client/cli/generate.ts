/**
 * npm run generate -- --prompt "..." [--model DIR] [--user-model DIR --lambda 0.5 --private-context "..."] [options]
 * The engine in one process (onnxruntime-node). Streams the prompt and the text of each finished
 * block to stdout; progress and a summary go to stderr (see PROGRESS below). Every flag is checked
 * before a model loads.
 */
import { existsSync, fstatSync } from 'node:fs';
import { topKFlag } from '../../tools/cli/top-k-flag';
import { parseCli, usageError } from '../../tools/cli/args';
import { InvalidArgumentError, SSD2Error } from '../../shared/errors';
import { instructionPrompt, privateContextPrefix } from '../../shared/prompt/instruction';
import { defaultStepsFor, generate, parseGenerateOptions, type Denoiser, type GenerateOptionsInput } from '../../shared/ssd2';
import { TextAccumulator } from '../../shared/tokenizer/text-accumulator';
import { fusedModels } from '../../shared/protocol';
import { bundleAt, openModel, providersArg, textArg } from './common';

const DEFAULT_MODEL = existsSync('models/core/manifest.json') ? 'models/core' : 'models/tiny-core';

const PROGRESS = `Output: the prompt and the text of each finished block go to stdout, a summary line to stderr at the end.
Progress on stderr: when stdout and stderr are the same terminal or file, nothing until the summary (the
text stays readable); else a live line (block, step, t/T, the checkpoint serving it, positions changed,
steps saved by early stopping) when stderr is a terminal, one line per block when it is not.
The text is the API's for the same model, prompt, seed and options: this decodes as its GPU workers do
(--top-k).`;

const CLI = {
  usage: 'npm run generate -- --prompt TEXT [options]',
  flags: {
    prompt: { type: 'string', arg: 'TEXT', empty: true, help: 'the prompt; - reads it from stdin' },
    'prompt-file': {
      type: 'string',
      arg: 'PATH',
      help: 'read the prompt from a file (- : stdin; one trailing newline is dropped);\nfor long prompts, which are not safe on the command line',
    },
    model: { type: 'string', arg: 'DIR', default: DEFAULT_MODEL, help: 'core model bundle' },
    chat: { type: 'boolean', help: 'wrap the prompt in the instruction format the core is tuned on' },
    context: { type: 'string', arg: 'TEXT', help: 'with --chat: a context line the core sees' },
    variant: {
      type: 'string',
      arg: 'DIR',
      multiple: true,
      help: 'timestep-specialised core checkpoint (repeatable): a core bundle serving a\nnarrower t/T range than --model',
    },
    'user-model': { type: 'string', arg: 'DIR', help: 'user model bundle to collaborate with' },
    'private-context': { type: 'string', arg: 'TEXT', help: 'with --user-model: context only the user model sees; - reads stdin' },
    'private-context-file': { type: 'string', arg: 'PATH', help: 'the private context from a file (- : stdin)' },
    lambda: { type: 'number', help: 'with --user-model: the user model weight in [0,1] (default 0.5)' },
    steps: {
      type: 'int',
      help:
        'denoising steps per block (default 2 per token of a block, at least 10; for a model\n' +
        'with a staggered block schedule, a window start every stride steps plus the last window)',
    },
    'top-p': { type: 'number', arg: 'P', help: 'nucleus for sampling, in (0,1] (default 0.95)' },
    temperature: { type: 'number', arg: 'T', help: 'the nucleus is taken over logits / T, in [0,2] (default 1; 0 is greedy)' },
    projection: {
      type: 'string',
      arg: 'KIND',
      choices: ['sample', 'greedy', 'multihot'],
      help: 'sample | greedy | multihot (default sample)',
    },
    seed: { type: 'int', arg: 'S', help: 'seed (default 0)' },
    'max-tokens': { type: 'int', help: 'length budget (default 100)' },
    'block-size': { type: 'int', help: "tokens per block, at most the model's (default: the model's)" },
    'early-stop': { type: 'int', arg: 'K', help: 'stop a block after K unchanged steps, 0 = off (default 5)' },
    'early-stop-confidence': {
      type: 'number',
      arg: 'P',
      help: "count a step only when every position's top token has probability >= P (default 0.5)",
    },
    'commit-confidence': {
      type: 'number',
      arg: 'P',
      help: 'staggered-block models: a position is final once its top token has probability >= P,\nending its window early (default 0.9)',
    },
    'min-tokens': { type: 'int', help: 'suppress end-of-text until N tokens were generated (default 0)' },
    providers: { type: 'string', arg: 'LIST', default: 'cpu', help: 'onnxruntime providers to try in order (cuda, webgpu, cpu)' },
    'top-k': topKFlag("\nthe default gives the API's text for the same seed"),
    'step-math': {
      type: 'string',
      arg: 'WHERE',
      choices: ['graph', 'reference'],
      default: 'graph',
      help: 'graph: the per-step math in onnxruntime next to the model;\nreference: the TypeScript engine (same greedy tokens, slower)',
    },
  },
  footer: PROGRESS,
} as const;

/** The flag each engine option comes from, for its errors. */
const FLAG_OF: Record<string, string> = {
  steps: '--steps',
  maxTokens: '--max-tokens',
  blockSize: '--block-size',
  projection: '--projection',
  topP: '--top-p',
  temperature: '--temperature',
  seed: '--seed',
  lambda: '--lambda',
  earlyStopPatience: '--early-stop',
  earlyStopConfidence: '--early-stop-confidence',
  commitConfidence: '--commit-confidence',
  minTokens: '--min-tokens',
};

/** An engine error about an option or input, as a usage error naming the flag it came from. */
function flagError(err: unknown, flags: Record<string, string>): never | undefined {
  if (!(err instanceof InvalidArgumentError)) return undefined;
  const flag = flags[err.field] ?? FLAG_OF[err.field] ?? err.field;
  usageError(`${flag}: ${err.message.slice(err.field.length + 2)}`);
}

/** Whether stdout and stderr are the same terminal, file or pipe (progress there would cut into the text). */
function sameDestination(): boolean {
  try {
    const [a, b] = [fstatSync(1), fstatSync(2)];
    return a.dev === b.dev && a.ino === b.ino && a.rdev === b.rdev;
  } catch {
    return false;
  }
}

async function main() {
  const { values: v } = parseCli(CLI);
  const instruction = textArg('prompt', v.prompt, v['prompt-file']);
  if (instruction === undefined) usageError('give --prompt TEXT or --prompt-file PATH (--help lists the options)');
  const privateContext = textArg('private-context', v['private-context'], v['private-context-file']);
  const userDir = v['user-model'];
  if (!userDir) {
    for (const [given, flag] of [
      [v.lambda, '--lambda'],
      [privateContext, v['private-context-file'] !== undefined ? '--private-context-file' : '--private-context'],
    ] as const)
      if (given !== undefined) usageError(`${flag} applies to a user model: give --user-model DIR too`);
  }
  if (v.context !== undefined && !v.chat) usageError('--context is a line of the --chat format: give --chat too');
  const providers = providersArg(v.providers);
  const options: GenerateOptionsInput = {
    steps: v.steps,
    maxTokens: v['max-tokens'],
    blockSize: v['block-size'],
    projection: v.projection as GenerateOptionsInput['projection'],
    topP: v['top-p'],
    temperature: v.temperature,
    seed: v.seed,
    lambda: v.lambda,
    earlyStopPatience: v['early-stop'],
    earlyStopConfidence: v['early-stop-confidence'],
    commitConfidence: v['commit-confidence'],
    minTokens: v['min-tokens'],
  };
  const textFlags = {
    prompt: v['prompt-file'] !== undefined ? '--prompt-file' : '--prompt',
    userContext: v['private-context-file'] !== undefined ? '--private-context-file' : '--private-context',
  };
  try {
    parseGenerateOptions(options);
  } catch (err) {
    flagError(err, textFlags);
    throw err;
  }

  // The bundles, from their manifests, before any loads.
  const coreFacts = bundleAt('model', v.model);
  if (coreFacts.role !== 'core') usageError(`--model: ${v.model} is a ${coreFacts.role} model; give it as --user-model`);
  const [lo, hi] = coreFacts.timestep_range;
  for (const dir of v.variant ?? []) {
    const f = bundleAt('variant', dir);
    if (f.role !== 'core') usageError(`--variant: ${dir} is a ${f.role} model, not a core checkpoint`);
    if (f.timestep_range[1] - f.timestep_range[0] >= hi - lo)
      usageError(
        `--variant: ${dir} serves t/T (${f.timestep_range.join(', ')}], no narrower than --model's (${lo}, ${hi}], so it would ` +
          'never be used (a variant is timestep-specialised)',
      );
  }
  if (userDir) bundleAt('user-model', userDir);
  if (options.blockSize !== undefined && options.blockSize > coreFacts.block_size)
    usageError(`--block-size: ${options.blockSize} exceeds the model's block size ${coreFacts.block_size}`);

  const core = await openModel(v.model, providers);
  const variants = [];
  for (const dir of v.variant ?? []) variants.push(await openModel(dir, providers));
  const user = userDir ? await openModel(userDir, providers) : undefined;
  const codec = core.codec;
  const text = v.chat ? instructionPrompt({ instruction, context: v.context }) : instruction;
  const prompt = codec.encode(text);
  const names = [core, ...variants].map((m) => `${m.bundle.manifest.name} (${m.bundle.manifest.timestep_range.join('-')})`).join(', ');
  console.error(
    `core: ${names}${user ? `; user: ${user.bundle.manifest.name}` : ''}; provider ${core.denoiser.provider}; prompt ${prompt.length} ` +
      `tokens`,
  );
  const blockSize = options.blockSize ?? core.bundle.manifest.block_size;
  const steps = options.steps ?? defaultStepsFor(blockSize, core.denoiser.info.blockSchedule);
  const totalBlocks = Math.ceil((options.maxTokens ?? 100) / blockSize);
  // As the API's GPU workers decode (fusedModels); --top-k 0 reads every logit.
  const cores: Denoiser[] = [core.denoiser, ...variants.map((m) => m.denoiser)];
  const models = v['top-k'] > 0 ? fusedModels(cores, user?.denoiser, v['top-k'], options.lambda) : { core: cores, user: user?.denoiser };
  const started = performance.now();
  const events = generate(
    { ...models, math: v['step-math'] === 'graph' ? core.denoiser.stepMath : undefined },
    {
      ...options,
      prompt,
      userContext: user && privateContext ? user.codec.encode(privateContextPrefix(privateContext)) : undefined,
      steps,
      blockSize,
      stepEvents: true,
    },
  );
  // Progress (PROGRESS above): live on a terminal stderr that is not where the text goes.
  const quiet = sameDestination();
  const live = !quiet && process.stderr.isTTY;
  const progress = (s: string) => process.stderr.write(`\r\x1b[2K${s}`);
  // A character split across blocks is printed once it is whole; a chat answer, as the API gives it,
  // without the whitespace it starts with (one space after the template's cue instead).
  const accumulator = new TextAccumulator((ids) => codec.decode(ids), [], v.chat);
  let saved = 0;
  let printed = false;
  try {
    for await (const ev of events) {
      // The engine checks the request when it starts: nothing is printed before that.
      if (!printed) {
        process.stdout.write(v.chat ? `${text} ` : text);
        printed = true;
      }
      if (ev.type === 'step' && live)
        progress(
          `block ${ev.block + 1}/${totalBlocks} step ${ev.step + 1}/${ev.steps} (t/T ${ev.fraction.toFixed(2)}, ${ev.model}) changed ` +
            `${ev.changed} saved ${saved}`,
        );
      if (ev.type === 'block') {
        saved += ev.stepsSaved;
        if (live) progress('');
        else if (!quiet) console.error(`block ${ev.block + 1}/${totalBlocks}: ${ev.stepsRun} steps, ${ev.stepsSaved} saved`);
        process.stdout.write(accumulator.push(ev.tokens));
      }
      if (ev.type === 'done') {
        const r = ev.result;
        const secs = (performance.now() - started) / 1000;
        process.stdout.write(`${accumulator.finish()}\n`);
        console.error(
          `[${r.finishReason}] ${r.tokens.length} tokens in ${r.blocks} blocks, ${r.stepsRun} steps run, ${r.stepsSaved} saved by early ` +
            `stopping, ${secs.toFixed(2)}s (${(r.tokens.length / secs).toFixed(1)} tok/s)`,
        );
      }
    }
  } catch (err) {
    if (!printed) flagError(err, textFlags);
    throw err;
  }
}

main().catch((err) => {
  // Errors the engine raises on purpose (a bundle that fails its checks, models that cannot mix) are one line.
  if (err instanceof SSD2Error) usageError(err.message);
  console.error(err);
  process.exit(1);
});
