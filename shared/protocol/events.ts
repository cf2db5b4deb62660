import type { GenerationEvent } from '../ssd2/generate';
import type { GenerateEvent } from './schemas';

/** A finished block, as the worker streams it and the edge passes it on. */
export type BlockEvent = Extract<GenerateEvent, { type: 'block' }>;
/** The end of a generation: every token, why it ended, blocks and steps. */
export type DoneEvent = Extract<GenerateEvent, { type: 'done' }>;
/** One denoising step (per-step mode with progress): the current argmax of every block position. */
export interface StepEvent {
  type: 'step';
  block: number;
  step: number;
  steps: number;
  changed: number;
  model: string;
  argmax: number[];
}

/**
 * The one mapping from the engine's events (shared/ssd2 `generate`) to the wire's: the worker's
 * fused NDJSON and the edge's generation stream carry these (plus their own error lines).
 */
export function wireEvent(e: Exclude<GenerationEvent, { type: 'step' }>): BlockEvent | DoneEvent;
export function wireEvent(e: GenerationEvent): StepEvent | BlockEvent | DoneEvent;
export function wireEvent(e: GenerationEvent): StepEvent | BlockEvent | DoneEvent {
  if (e.type === 'done') return { type: 'done', ...e.result };
  if (e.type === 'step')
    return { type: 'step', block: e.block, step: e.step, steps: e.steps, changed: e.changed, model: e.model, argmax: e.argmax };
  return { type: 'block', block: e.block, tokens: e.tokens, stepsRun: e.stepsRun, stepsSaved: e.stepsSaved };
}
