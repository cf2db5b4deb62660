import { instructionPrompt } from '../../../shared/prompt/instruction';
import { invalidRequest } from '../errors/api-error';
import type { ChatMessage } from './schemas';

const text = (m: ChatMessage): string => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join(''));

/**
 * Chat messages in the instruction format the core model is tuned on: the last user message is
 * the instruction; system/developer messages (before or after it) and earlier turns become its context.
 */
export function chatPrompt(messages: readonly ChatMessage[]): string {
  const last = messages.findLastIndex((m) => m.role === 'user');
  if (last < 0) throw invalidRequest('messages', 'no user message: the last user message is the instruction the model answers');
  const after = messages.findIndex((m, i) => i > last && m.role === 'assistant');
  if (after >= 0)
    throw invalidRequest(
      `messages.${after}.role`,
      'an assistant message after the last user message is not supported: the answer follows the last user message',
    );
  const instruction = text(messages[last]);
  if (!instruction.trim()) throw invalidRequest(`messages.${last}.content`, 'the last user message is empty');
  const system = messages.filter((m) => m.role === 'system' || m.role === 'developer').map(text);
  const turns = messages
    .slice(0, last)
    .filter((m) => m.role === 'user' || m.role === 'assistant')
    .map((m) => `${m.role === 'user' ? 'User' : 'Assistant'}: ${text(m)}`);
  const context = [...system, ...turns].filter((s) => s.trim()).join('\n');
  return instructionPrompt({ instruction, context });
}
