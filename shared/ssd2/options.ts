import { z } from 'zod';
import { firstIssue, InvalidArgumentError } from '../errors';
import type { BlockSchedule } from './schedule';

const lambdaValue = z.number().min(0).max(1);

/** Decoding options; defaults follow SSD-LM's best settings scaled to our step budget. */
export const GenerateOptionsSchema = z.object({
  /** Denoising steps per block (T_dec); absent: `defaultStepsFor` the block size. */
  steps: z.number().int().min(1).max(5000).optional(),
  maxTokens: z.number().int().min(1).max(100_000).default(100),
  /** Tokens per block; at most the model's trained block size. */
  blockSize: z.number().int().min(1).optional(),
  projection: z.enum(['greedy', 'sample', 'multihot']).default('sample'),
  /** The projection's nucleus mass; 0 keeps only the most probable token: greedy. */
  topP: z.number().min(0).max(1).default(0.95),
  /**
   * The projection's nucleus is taken over logits / temperature: below 1 sharper, above 1 flatter;
   * 0 (and anything below 0.001) is the limit, the argmax (greedy). Argmax, early stopping and the
   * commit rule read the logits themselves.
   */
  temperature: z.number().min(0).max(2).default(1),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  /** Collaboration weight of the user model: constant, per step, or a linear ramp. */
  lambda: z.union([lambdaValue, z.array(lambdaValue).min(1), z.object({ start: lambdaValue, end: lambdaValue })]).default(0.5),
  /** Steps of unchanged argmax that end a block early; 0 runs every step. */
  earlyStopPatience: z.number().int().min(0).default(5),
  /** Early stopping counts a step only when every position's top token has at least this probability. */
  earlyStopConfidence: z.number().min(0).max(1).default(0.5),
  /**
   * Under a staggered block schedule, the leading noisy position is final as soon as its top token
   * has at least this probability (its window ends at once); part of early stopping, off with
   * `earlyStopPatience` 0.
   */
  commitConfidence: z.number().min(0).max(1).default(0.9),
  stopAtEos: z.boolean().default(true),
  /** EOS is suppressed until this many tokens have been generated (a logits processor). */
  minTokens: z.number().int().min(0).default(0),
  /** Feed each model its previous step's logits (the models are trained for it); false for ablations. */
  selfConditioning: z.boolean().default(true),
});

/**
 * Steps per block when a request names none (the API, batches, the worker, the CLI and the eval
 * alike): two per token of the block, at least 10 (small blocks settle in few steps, models/EVAL.md);
 * under a staggered block schedule, a window start every `stride` steps (default: the window, so
 * the windows do not overlap) and the last position's whole window.
 */
export const defaultStepsFor = (blockSize: number, schedule?: BlockSchedule): number =>
  schedule?.kind === 'staggered' ? (blockSize - 1) * (schedule.stride ?? schedule.window) + schedule.window : Math.max(10, 2 * blockSize);

/** What the default steps depend on: the model's block size and block schedule. */
export type StepsModel = { readonly blockSize: number; readonly blockSchedule?: BlockSchedule };

/**
 * The steps per block a generation runs: its own, else `defaultStepsFor` its block size (the
 * model's unless it asks for smaller blocks) and the model's block schedule.
 */
export const stepsFor = (options: { steps?: number; blockSize?: number }, model: StepsModel): number =>
  options.steps ?? defaultStepsFor(options.blockSize ?? model.blockSize, model.blockSchedule);

export type GenerateOptionsInput = z.input<typeof GenerateOptionsSchema>;
export type GenerateOptions = z.output<typeof GenerateOptionsSchema>;

/** Parses options, turning the first schema issue into an error that names the field. */
export function parseGenerateOptions(input: GenerateOptionsInput): GenerateOptions {
  const parsed = GenerateOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw new InvalidArgumentError(field ?? 'options', message);
  }
  return parsed.data;
}
