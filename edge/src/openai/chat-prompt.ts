import { instructionPrompt } from '../../../shared/prompt/instruction';
import { invalidRequest } from '../errors/api-error';
import type { ChatMessage } from './schemas';

const text = (m: ChatMessage): string => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join(''));

/**
 * Chat messages in the instruction format the core model is tuned on: the last user message is
 * the instruction; system/developer messages and earlier turns become its context.
 */
export function chatPrompt(messages: readonly ChatMessage[]): string {
  const last = messages.length - 1;
  if (messages[last].role !== 'user') throw invalidRequest(`messages.${last}.role`, 'the last message must come from the user');
  const instruction = text(messages[last]);
  if (!instruction.trim()) throw invalidRequest(`messages.${last}.content`, 'the last user message is empty');
  const system = messages
    .slice(0, last)
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map(text);
  const turns = messages
    .slice(0, last)
    .filter((m) => m.role === 'user' || m.role === 'assistant')
    .map((m) => `${m.role === 'user' ? 'User' : 'Assistant'}: ${text(m)}`);
  const context = [...system, ...turns].filter((s) => s.trim()).join('\n');
  return instructionPrompt({ instruction, context });
}
