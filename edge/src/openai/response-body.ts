import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { Completion, CompletionChoice } from 'openai/resources/completions';
import type { DoneEvent } from '../../../shared/protocol';

export type ResponseKind = 'completion' | 'chat';
export type FinishReason = 'stop' | 'length';

/** OpenAI's finish_reason: a stop sequence or EOS is `stop`, running out of tokens is `length`. */
export const finishReasonOf = (done: DoneEvent): FinishReason =>
  done.finishReason === 'eos' || done.finishReason === 'stop' ? 'stop' : 'length';

/** Every body carries the SSD-2 extension object beside OpenAI's fields. */
type WithSSD2<T> = T & { ssd2: Record<string, unknown> };
/** A streamed text-completion chunk: OpenAI's Completion, with finish_reason null until the last. */
type CompletionChunk = Omit<Completion, 'choices'> & {
  choices: (Omit<CompletionChoice, 'finish_reason'> & { finish_reason: FinishReason | null })[];
};

/** The body of one SSE chunk of a streamed completion or chat completion (`extra`: `ssd2`, `usage`). */
export function chunkBody(a: {
  kind: ResponseKind;
  id: string;
  created: number;
  model: string;
  /** New text; null for a chat chunk without content (the last one). */
  delta: string | null;
  finishReason: FinishReason | null;
  /** The choice the chunk belongs to (default 0). */
  index?: number;
  /** The first chat chunk of a choice also says who speaks. */
  first?: boolean;
  extra?: Record<string, unknown>;
}): CompletionChunk | ChatCompletionChunk {
  const { id, created, model } = a;
  const index = a.index ?? 0;
  if (a.kind === 'chat') {
    const delta = a.delta === null ? {} : { ...(a.first ? { role: 'assistant' as const } : {}), content: a.delta };
    return {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index, delta, logprobs: null, finish_reason: a.finishReason }],
      ...a.extra,
    };
  }
  return {
    id,
    object: 'text_completion',
    created,
    model,
    choices: [{ index, text: a.delta ?? '', logprobs: null, finish_reason: a.finishReason }],
    ...a.extra,
  };
}

export type CompletionBody = WithSSD2<Completion> | WithSSD2<ChatCompletion>;

/** The non-streamed body of a finished completion or chat completion (also a batch line's response body). */
export function completionBody(a: {
  kind: ResponseKind;
  id: string;
  created: number;
  model: string;
  /** One per choice, in order. */
  choices: { text: string; finishReason: FinishReason }[];
  promptTokens: number;
  /** The whole call: every choice's tokens and steps. */
  done: DoneEvent;
  ssd2: Record<string, unknown>;
}): CompletionBody {
  const usage = {
    prompt_tokens: a.promptTokens,
    completion_tokens: a.done.tokens.length,
    total_tokens: a.promptTokens + a.done.tokens.length,
  };
  const ssd2 = {
    ...a.ssd2,
    blocks: a.done.blocks,
    steps_run: a.done.stepsRun,
    steps_saved: a.done.stepsSaved,
    finish_reason: a.done.finishReason,
  };
  const { id, created, model } = a;
  if (a.kind === 'chat') {
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: a.choices.map((ch, index) => ({
        index,
        message: { role: 'assistant' as const, content: ch.text, refusal: null },
        logprobs: null,
        finish_reason: ch.finishReason,
      })),
      usage,
      ssd2,
    };
  }
  return {
    id,
    object: 'text_completion',
    created,
    model,
    choices: a.choices.map((ch, index) => ({ index, text: ch.text, logprobs: null, finish_reason: ch.finishReason })),
    usage,
    ssd2,
  };
}
