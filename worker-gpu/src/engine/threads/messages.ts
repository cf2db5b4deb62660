import type { DenoiserInfo, GenerationEvent, GenerationRequest, NoisyBlockRecipe } from '../../../../shared/ssd2';

/**
 * Messages between the worker's main thread (models, batchers, HTTP) and a generation thread (the
 * block loop of fused generations: wire-form compaction, projection). Logits travel as
 * transferred Float32Arrays, not copies.
 */
export type ToThread =
  | { type: 'start'; gen: number; core: DenoiserInfo; user: DenoiserInfo | null; topK: number; request: GenerationRequest }
  | { type: 'cancel'; gen: number }
  | { type: 'logits'; call: number; data: Float32Array }
  /** The model's step failed on the main thread; `error` is that error's id there. */
  | { type: 'step-failed'; call: number; error: number; message: string };

export type FromThread =
  | {
      type: 'step';
      gen: number;
      call: number;
      model: 'core' | 'user';
      context: number[];
      noise: NoisyBlockRecipe;
      selfCond: Float32Array | null;
    }
  | { type: 'event'; gen: number; event: GenerationEvent }
  | { type: 'end'; gen: number }
  | { type: 'failed'; gen: number; error: WireError };

/** An error raised in a thread; `mainError` points back at a main-thread error that caused it. */
export interface WireError {
  name: string;
  code?: string;
  field?: string;
  message: string;
  mainError?: number;
}
