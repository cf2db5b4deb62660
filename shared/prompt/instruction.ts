/**
 * The instruction format the project's core models are tuned on (SSD-2 used DOLLY-style
 * {instruction, context, response}; its template is not published, so this one is ours):
 *
 *   Instruction: <instruction>\n[Context: <context>\n]Response:
 *
 * The response follows after one space and ends with EOS. Training data preparation and the
 * chat endpoint both call this, so the two cannot drift apart.
 */
export interface InstructionTurn {
  instruction: string;
  context?: string;
}

export function instructionPrompt({ instruction, context }: InstructionTurn): string {
  return `Instruction: ${instruction.trim()}\n${context?.trim() ? `Context: ${context.trim()}\n` : ''}Response:`;
}

/** The text the model is trained to produce after the prompt (before EOS). */
export function instructionResponse(response: string): string {
  return ` ${response.trim()}`;
}

/**
 * A private context reaches only the user model, in front of the same prompt the core sees:
 * user tokens = encode(privateContextPrefix(text)) ++ encode(prompt).
 */
export function privateContextPrefix(text: string): string {
  return `Context: ${text.trim()}\n`;
}
