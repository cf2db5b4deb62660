/**
 * npm run generate -- --prompt "..." [--model DIR] [--user-model DIR --lambda 0.5 --private-context "..."]
 *                     [--variant DIR ...] [--steps N] [--top-p P] [--temperature T] [--seed S] [--max-tokens N] [--providers cpu]
 * Streams each finished block to stdout; a progress line (block, step, early-stop savings) goes to stderr.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { defaultStepsFor, generate, type Denoiser } from '../../shared/ssd2';
import { SSD2Error } from '../../shared/errors';
import { instructionPrompt, privateContextPrefix } from '../../shared/prompt/instruction';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import { parseProviders } from '../../worker-gpu/src/runtime/providers';

const DEFAULT_MODEL = existsSync('models/core/manifest.json') ? 'models/core' : 'models/tiny-core';

const HELP = `usage: npm run generate -- --prompt TEXT [options]
  --model DIR            core model bundle (default ${DEFAULT_MODEL})
  --chat                 wrap the prompt in the instruction format the core is tuned on
  --context TEXT         with --chat: a context line the core sees
  --variant DIR          timestep-specialised core checkpoint (repeatable)
  --user-model DIR       user model bundle to collaborate with
  --private-context TEXT context only the user model sees
  --lambda X             user model weight in [0,1] (default 0.5)
  --steps N              denoising steps per block (default 2 per token of a block, at least 10; for a model
                         with a staggered block schedule, a window start every stride steps plus the last window)
  --top-p P              nucleus for sampling, in (0,1] (default 0.95)
  --temperature T        the nucleus is taken over logits / T, in [0,2] (default 1; 0 is greedy)
  --projection KIND      sample | greedy | multihot (default sample)
  --seed S               seed (default 0)
  --max-tokens N         length budget (default 100)
  --block-size N         tokens per block (default: the model's)
  --early-stop K         stop a block after K unchanged steps, 0 = off (default 5)
  --early-stop-confidence P  count a step only when every position's top token has
                         probability >= P (default 0.5)
  --commit-confidence P  staggered-block models: a position is final once its top token
                         has probability >= P, ending its window early (default 0.9)
  --min-tokens N         suppress end-of-text until N tokens were generated (default 0)
  --providers LIST       onnxruntime providers to try in order (default cpu)
  --step-math WHERE      graph: the per-step math in onnxruntime next to the model (default);
                         reference: the TypeScript engine (same greedy tokens, slower)`;

function num(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new SSD2Error('invalid_argument', `--${name}: expected a number, got "${value}"`);
  return n;
}

async function main() {
  const { values } = parseArgs({
    options: {
      prompt: { type: 'string' },
      model: { type: 'string', default: DEFAULT_MODEL },
      variant: { type: 'string', multiple: true },
      'user-model': { type: 'string' },
      'private-context': { type: 'string' },
      lambda: { type: 'string' },
      steps: { type: 'string' },
      'top-p': { type: 'string' },
      temperature: { type: 'string' },
      projection: { type: 'string' },
      seed: { type: 'string' },
      'max-tokens': { type: 'string' },
      'block-size': { type: 'string' },
      'early-stop': { type: 'string' },
      'early-stop-confidence': { type: 'string' },
      'commit-confidence': { type: 'string' },
      'min-tokens': { type: 'string' },
      providers: { type: 'string', default: 'cpu' },
      'step-math': { type: 'string', default: 'graph' },
      chat: { type: 'boolean', default: false },
      context: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || values.prompt === undefined) {
    console.log(HELP);
    process.exit(values.help ? 0 : 2);
  }
  for (const dir of [values.model!, ...(values.variant ?? []), ...(values['user-model'] ? [values['user-model']] : [])]) {
    if (!existsSync(dir)) throw new SSD2Error('not_found', `model directory not found: ${dir}`);
  }
  const providers = parseProviders(values.providers);
  if (values['step-math'] !== 'graph' && values['step-math'] !== 'reference')
    throw new SSD2Error('invalid_argument', `--step-math: expected graph or reference, got "${values['step-math']}"`);
  const core = await loadLocalModel(values.model!, providers);
  const variants = await Promise.all((values.variant ?? []).map((d) => loadLocalModel(d, providers)));
  const user = values['user-model'] ? await loadLocalModel(values['user-model'], providers) : undefined;
  const codec = core.codec;
  const text = values.chat ? instructionPrompt({ instruction: values.prompt, context: values.context }) : values.prompt;
  const prompt = codec.encode(text);
  const names = [core, ...variants].map((m) => `${m.bundle.manifest.name} (${m.bundle.manifest.timestep_range.join('-')})`).join(', ');
  console.error(
    `core: ${names}${user ? `; user: ${user.bundle.manifest.name}` : ''}; provider ${core.denoiser.provider}; prompt ${prompt.length} ` +
      `tokens`,
  );
  const maxTokens = num('max-tokens', values['max-tokens']) ?? 100;
  const blockSize = num('block-size', values['block-size']) ?? core.bundle.manifest.block_size;
  const steps = num('steps', values.steps) ?? defaultStepsFor(blockSize, core.denoiser.info.blockSchedule);
  const totalBlocks = Math.ceil(maxTokens / blockSize);
  const started = performance.now();
  process.stdout.write(text);
  const events = generate(
    {
      core: [core.denoiser, ...variants.map((v) => v.denoiser)] as Denoiser[],
      user: user?.denoiser,
      math: values['step-math'] === 'graph' ? core.denoiser.stepMath : undefined,
    },
    {
      prompt,
      userContext: user && values['private-context'] ? user.codec.encode(privateContextPrefix(values['private-context'])) : undefined,
      steps,
      maxTokens,
      blockSize,
      topP: num('top-p', values['top-p']),
      temperature: num('temperature', values.temperature),
      seed: num('seed', values.seed),
      lambda: num('lambda', values.lambda),
      projection: values.projection as 'sample' | undefined,
      earlyStopPatience: num('early-stop', values['early-stop']),
      earlyStopConfidence: num('early-stop-confidence', values['early-stop-confidence']),
      commitConfidence: num('commit-confidence', values['commit-confidence']),
      minTokens: num('min-tokens', values['min-tokens']),
      stepEvents: true,
    },
  );
  let saved = 0;
  const progress = (s: string) => process.stderr.isTTY && process.stderr.write(`\r\x1b[2K${s}`);
  for await (const ev of events) {
    if (ev.type === 'step')
      progress(
        `block ${ev.block + 1}/${totalBlocks} step ${ev.step + 1}/${ev.steps} (t/T ${ev.fraction.toFixed(2)}, ${ev.model}) changed ` +
          `${ev.changed} saved ${saved}`,
      );
    if (ev.type === 'block') {
      saved += ev.stepsSaved;
      if (process.stderr.isTTY) progress('');
      else console.error(`block ${ev.block + 1}/${totalBlocks}: ${ev.stepsRun} steps, ${ev.stepsSaved} saved`);
      process.stdout.write(codec.decode(ev.tokens));
    }
    if (ev.type === 'done') {
      const r = ev.result;
      const secs = (performance.now() - started) / 1000;
      process.stdout.write('\n');
      console.error(
        `[${r.finishReason}] ${r.tokens.length} tokens in ${r.blocks} blocks, ${r.stepsRun} steps run, ${r.stepsSaved} saved by early ` +
          `stopping, ${secs.toFixed(2)}s (${(r.tokens.length / secs).toFixed(1)} tok/s)`,
      );
    }
  }
}

main().catch((err) => {
  if (err instanceof SSD2Error || String(err?.code).startsWith('ERR_PARSE_ARGS')) {
    console.error(`error: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
