import { InvalidArgumentError } from '../../../shared/errors';
import { densifyLogits, type CompactLogits } from '../../../shared/protocol';
import type { DenoiserInfo } from '../../../shared/ssd2/denoiser';
import type { BlockLogits, Estimate } from '../../../shared/ssd2/types';

/** Checks that depend on the model (the wire schema has already checked types and fixed ranges). */

function checkTokens(ids: readonly number[], info: DenoiserInfo, field: string): void {
  const at = ids.findIndex((id) => id >= info.vocabSize);
  if (at >= 0)
    throw new InvalidArgumentError(`${field}.${at}`, `token id ${ids[at]} is outside ${info.name}'s vocabulary [0, ${info.vocabSize})`);
}

export function checkContext(tokens: readonly number[], info: DenoiserInfo, field: string): void {
  if (tokens.length === 0 && info.readout === 'shifted')
    throw new InvalidArgumentError(
      field,
      `${info.name} reads a block's first token from the token before it: give at least one context token`,
    );
  if (tokens.length > info.maxContext)
    throw new InvalidArgumentError(field, `${tokens.length} tokens exceed ${info.name}'s max_context of ${info.maxContext}`);
  checkTokens(tokens, info, field);
}

export function checkBlockLength(blockLength: number, info: DenoiserInfo, field = 'blockLength'): void {
  if (blockLength > info.blockSize)
    throw new InvalidArgumentError(field, `${blockLength} exceeds ${info.name}'s block size ${info.blockSize}`);
}

export function checkTopK(k: number, info: DenoiserInfo, field = 'topK'): void {
  if (k > info.vocabSize) throw new InvalidArgumentError(field, `${k} exceeds the vocabulary size ${info.vocabSize}`);
}

export function checkEstimate(estimate: Estimate | null, info: DenoiserInfo, field = 'estimate'): void {
  estimate?.forEach((ids, p) => checkTokens(ids, info, `${field}.${p}`));
}

/** Dense self-conditioning logits from the compact form the client echoes back. */
export function selfCondLogits(c: CompactLogits | null, info: DenoiserInfo, blockLength: number, field: string): BlockLogits | null {
  if (!c) return null;
  if (c.vocabSize !== info.vocabSize)
    throw new InvalidArgumentError(`${field}.vocabSize`, `${c.vocabSize} is not ${info.name}'s vocabulary size ${info.vocabSize}`);
  if (c.length !== blockLength) throw new InvalidArgumentError(`${field}.length`, `${c.length} is not blockLength ${blockLength}`);
  try {
    return densifyLogits(c);
  } catch (err) {
    throw new InvalidArgumentError(field, (err as Error).message);
  }
}
