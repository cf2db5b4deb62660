import { InvalidArgumentError } from '../errors';
import type { Denoiser } from './denoiser';
import { ArgmaxStability } from './early-stop';
import { referenceStepMath, type StepMath } from './kernel';
import { lambdaAt } from './mixing';
import { parseGenerateOptions, stepsFor, type GenerateOptionsInput } from './options';
import { assertCompatible, TimestepRouter } from './routing';
import { GREEDY_BELOW_TEMPERATURE } from './projection';
import { cleanPrefix, commitJump, timestepFraction } from './schedule';
import type { BlockLogits, Estimate } from './types';

export interface GenerationModels {
  /** Core checkpoints; several when timestep-specialised variants take part. */
  core: Denoiser | readonly Denoiser[];
  /** Optional user model whose logits are mixed in with weight λ. */
  user?: Denoiser;
  /** Where the per-step math runs (default: `referenceStepMath`, TypeScript over dense rows). */
  math?: StepMath;
}

export interface GenerationRequest extends GenerateOptionsInput {
  /** Prompt tokens (what the core model sees). */
  prompt: readonly number[];
  /** Tokens only the user model sees before the prompt (its private context). */
  userContext?: readonly number[];
  /** Emit a `step` event for every denoising step (progress / visualisation). */
  stepEvents?: boolean;
}

export type FinishReason = 'eos' | 'length' | 'context';

export type GenerationEvent =
  | { type: 'step'; block: number; step: number; steps: number; fraction: number; model: string; argmax: number[]; changed: number }
  | { type: 'block'; block: number; tokens: number[]; stepsRun: number; stepsSaved: number }
  | { type: 'done'; result: GenerationResult };

export interface GenerationResult {
  tokens: number[];
  finishReason: FinishReason;
  blocks: number;
  stepsRun: number;
  stepsSaved: number;
}

/**
 * The semi-autoregressive SSD-2 loop. Per block: start from noise, and for t = T..1 ask the
 * (routed) core model and the optional user model for logits on the same noisy block, each with its
 * own self-conditioning state, mix them, check early stopping, project and re-noise. A finished
 * block is appended to the context; generation ends at EOS, at maxTokens or at the context limit.
 */
export async function* generate(models: GenerationModels, request: GenerationRequest): AsyncGenerator<GenerationEvent, GenerationResult> {
  const opts = parseGenerateOptions(request);
  const router = new TimestepRouter(Array.isArray(models.core) ? models.core : [models.core as Denoiser]);
  const main = router.main.info;
  const user = models.user;
  const math = models.math ?? referenceStepMath;
  if (user) assertCompatible(router.main, user, 'user model');
  const blockSize = opts.blockSize ?? main.blockSize;
  if (blockSize > main.blockSize)
    throw new InvalidArgumentError('blockSize', `${blockSize} exceeds the model's block size ${main.blockSize}`);
  const steps = stepsFor(opts, main);
  if (Array.isArray(opts.lambda) && opts.lambda.length !== steps) {
    throw new InvalidArgumentError('lambda', `a per-step schedule needs ${steps} values (one per step), got ${opts.lambda.length}`);
  }
  const prompt = [...request.prompt];
  // A shifted readout predicts a block's first token from the token before it: an empty prompt
  // starts after an end of text, as every document after the first does in training.
  if (prompt.length === 0 && [...router.checkpoints, user].some((m) => m?.info.readout === 'shifted')) prompt.push(main.eosTokenId);
  const userPrefix = [...(request.userContext ?? [])];
  const limit = Math.min(...router.checkpoints.map((c) => c.info.maxContext));
  if (prompt.length > limit)
    throw new InvalidArgumentError('prompt', `${prompt.length} tokens exceed the core model's context of ${limit} tokens`);
  if (user && userPrefix.length + prompt.length > user.info.maxContext) {
    throw new InvalidArgumentError(
      'userContext',
      `private context + prompt (${userPrefix.length + prompt.length} tokens) exceed the user model's context of ${user.info.maxContext} ` +
        `tokens`,
    );
  }
  for (const [field, ids] of [
    ['prompt', prompt],
    ['userContext', userPrefix],
  ] as const) {
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= main.vocabSize);
    if (bad !== undefined) throw new InvalidArgumentError(field, `token id ${bad} is outside the vocabulary [0, ${main.vocabSize})`);
  }

  // A temperature near 0 is the nucleus's limit, the argmax: greedy (a float32 division by it would
  // overflow); so is a nucleus of no mass, which keeps the most probable token alone.
  const kind = opts.temperature < GREEDY_BELOW_TEMPERATURE || opts.topP === 0 ? 'greedy' : opts.projection;
  const output: number[] = [];
  let stepsRun = 0;
  let stepsSaved = 0;
  let finishReason: FinishReason = 'length';
  let block = 0;
  for (; output.length < opts.maxTokens; block++) {
    const context = [...prompt, ...output];
    if (context.length > limit || (user && userPrefix.length + context.length > user.info.maxContext)) {
      finishReason = 'context';
      break;
    }
    const userCtx = user ? [...userPrefix, ...context] : [];
    const stability = new ArgmaxStability(opts.earlyStopPatience, opts.earlyStopConfidence);
    let estimate: Estimate | null = null;
    let coreSelf: BlockLogits | null = null;
    let userSelf: BlockLogits | null = null;
    let final: number[] = [];
    let run = 0;
    for (let step = 0; step < steps; ) {
      const fraction = timestepFraction(step, steps);
      const core = router.pick(fraction);
      const noise = { seed: opts.seed, block, step, steps: steps, estimate, blockLength: blockSize };
      const [[coreLogits], userLogits]: [BlockLogits[], BlockLogits[] | undefined] = await Promise.all([
        core.denoise([{ context, noise, selfCond: coreSelf }]),
        user ? user.denoise([{ context: userCtx, noise, selfCond: userSelf }]) : Promise.resolve(undefined),
      ]);
      if (opts.selfConditioning) {
        coreSelf = coreLogits; // passes across a routing switch unchanged
        userSelf = userLogits?.[0] ?? null;
      }
      const lambda = lambdaAt(opts.lambda, step, steps);
      // λ = 0 leaves the core's logits as they are (core-only decoding is bit-identical).
      const userOut = lambda === 0 ? undefined : userLogits?.[0];
      const projection = { kind, topP: opts.topP, temperature: opts.temperature, seed: opts.seed, block, step };
      const outcome = await math.run({
        core: coreLogits,
        user: userOut,
        lambda,
        eosTokenId: main.eosTokenId,
        suppressEos: opts.minTokens - output.length,
        projection,
      });
      const { argmax } = outcome;
      const { changed, settled } = stability.observe(argmax, outcome.topProbability);
      run++;
      if (request.stepEvents) yield { type: 'step', block, step, steps: steps, fraction, model: core.info.name, argmax, changed };
      // Under a staggered schedule the block is decided once every position the output keeps (up
      // to the first EOS, within max_tokens) is clean: the rest of the schedule cannot change them
      // (a clean position's one-hot estimate outweighs any prior; a multi-hot one does not).
      const eosAt = opts.stopAtEos ? argmax.indexOf(main.eosTokenId) : -1;
      const kept = Math.min(blockSize, opts.maxTokens - output.length, eosAt >= 0 ? eosAt + 1 : blockSize);
      const oneHot = kind !== 'multihot';
      const clean = oneHot ? cleanPrefix(step, steps, blockSize, main.blockSchedule) : 0;
      // With early stopping on, a leading position the model is already sure of ends its window at
      // once (our rule, the per-position form of early stopping): its one-hot estimate is committed
      // and the loop jumps to where the schedule makes it clean (`commitJump`).
      let next = clean >= kept ? steps : step + 1;
      if (next < steps && oneHot && opts.earlyStopPatience > 0) {
        const jump = commitJump(step, steps, clean, kept, blockSize, main.blockSchedule);
        if (jump !== null && outcome.topProbability(clean) >= opts.commitConfidence) next = jump;
      }
      if (settled || next >= steps) {
        final = argmax; // SSD-LM: the block's tokens are the argmax of the last step's logits
        break;
      }
      estimate = outcome.estimate();
      step = next;
    }
    stepsRun += run;
    stepsSaved += steps - run;
    // Only the positions max_tokens leaves room for count: an EOS after them does not end the text.
    const room = final.slice(0, opts.maxTokens - output.length);
    const eosAt = opts.stopAtEos ? room.indexOf(main.eosTokenId) : -1;
    const kept = eosAt >= 0 ? room.slice(0, eosAt) : room;
    output.push(...kept);
    yield { type: 'block', block, tokens: kept, stepsRun: run, stepsSaved: steps - run };
    if (eosAt >= 0) {
      finishReason = 'eos';
      block++;
      break;
    }
  }
  const result: GenerationResult = { tokens: output, finishReason, blocks: block, stepsRun, stepsSaved };
  yield { type: 'done', result };
  return result;
}

/** Runs `generate` to completion and returns its result. */
export async function generateAll(models: GenerationModels, request: GenerationRequest): Promise<GenerationResult> {
  const it = generate(models, request);
  for (;;) {
    const next = await it.next();
    if (next.done) return next.value;
  }
}
