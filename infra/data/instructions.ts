import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { Tokenizer } from '@huggingface/tokenizers';
import { instructionPrompt, instructionResponse, privateContextPrefix } from '../../shared/prompt/instruction';
import { firstIssue } from '../../shared/errors';

export const InstructionRowSchema = z.object({
  instruction: z.string().min(1),
  context: z.string().optional().default(''),
  response: z.string().min(1),
});
export type InstructionRow = z.output<typeof InstructionRowSchema>;

/** Reads {instruction, context, response} JSONL; a bad line is reported with its number and field. */
export function readInstructions(path: string): InstructionRow[] {
  const rows: InstructionRow[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (err) {
        throw new Error(`${path}:${i + 1}: not valid JSON (${(err as Error).message})`);
      }
      const parsed = InstructionRowSchema.safeParse(json);
      if (!parsed.success) {
        throw new Error(`${path}:${i + 1}: field ${firstIssue(parsed.error, '(row)').text}`);
      }
      rows.push(parsed.data);
    });
  if (rows.length === 0) throw new Error(`${path}: no instruction rows`);
  return rows;
}

/**
 * Tokenizes rows with the shared instruction template into train.py's {prompt_ids, response_ids}
 * lines. With `privateContext`, the row's context is the user model's private context: it goes in
 * front of the prompt (tokenized separately, exactly as at inference) instead of inside it.
 */
export function writeInstructionIds(rows: readonly InstructionRow[], tokenizerJson: object, out: string, privateContext = false): void {
  const tokenizer = new Tokenizer(tokenizerJson, { add_prefix_space: false });
  const encode = (s: string) => tokenizer.encode(s, { add_special_tokens: false }).ids;
  const prompt = (r: InstructionRow) =>
    privateContext
      ? [...encode(privateContextPrefix(r.context)), ...encode(instructionPrompt({ instruction: r.instruction }))]
      : encode(instructionPrompt(r));
  const lines = rows.map((r) => JSON.stringify({ prompt_ids: prompt(r), response_ids: encode(instructionResponse(r.response)) }));
  writeFileSync(out, lines.join('\n') + '\n');
}
