import type { GenerationStreamEvent } from '../generation/spec';

export type ResponseKind = 'completion' | 'chat';
export type FinishReason = 'stop' | 'length';
type DoneEvent = Extract<GenerationStreamEvent, { type: 'done' }>;

/** OpenAI's finish_reason: a stop sequence or EOS is `stop`, running out of tokens is `length`. */
export const finishReasonOf = (done: DoneEvent, stoppedBySequence: boolean): FinishReason =>
  stoppedBySequence || done.finishReason === 'eos' ? 'stop' : 'length';

/** The non-streamed body of a finished completion or chat completion (also a batch line's response body). */
export function completionBody(a: {
  kind: ResponseKind;
  id: string;
  created: number;
  model: string;
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  done: DoneEvent;
  ssd2: Record<string, unknown>;
}): Record<string, unknown> {
  const choice =
    a.kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: a.text, refusal: null }, logprobs: null, finish_reason: a.finishReason }
      : { index: 0, text: a.text, logprobs: null, finish_reason: a.finishReason };
  return {
    id: a.id,
    object: a.kind === 'chat' ? 'chat.completion' : 'text_completion',
    created: a.created,
    model: a.model,
    choices: [choice],
    usage: { prompt_tokens: a.promptTokens, completion_tokens: a.done.tokens.length, total_tokens: a.promptTokens + a.done.tokens.length },
    ssd2: { ...a.ssd2, blocks: a.done.blocks, steps_run: a.done.stepsRun, steps_saved: a.done.stepsSaved },
  };
}
