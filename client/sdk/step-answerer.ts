import type { ClientMessage, ServerMessage } from '../../shared/client-protocol';
import { compactLogits, densifyLogits, DEFAULT_TOP_K } from '../../shared/protocol';
import type { Denoiser } from '../../shared/ssd2';

export type StepMessage = Extract<ServerMessage, { type: 'step' }>;
export type LogitsMessage = Extract<ClientMessage, { type: 'logits' }>;

/**
 * Answers the edge's step messages with the local user model's compact logits. The private
 * context (already tokenized) goes in front of the context the edge sends, here and nowhere else.
 * Stateless like every Denoiser: self-conditioning comes back from the edge as the compact logits
 * this client sent for the previous step.
 */
export class StepAnswerer {
  constructor(
    private readonly model: Denoiser,
    private readonly privatePrefix: readonly number[] = [],
    private readonly topK: number = DEFAULT_TOP_K,
  ) {}

  async answer(step: StepMessage): Promise<LogitsMessage> {
    const [logits] = await this.model.denoise([
      {
        context: [...this.privatePrefix, ...step.context],
        noise: step.noise,
        selfCond: step.selfCond ? densifyLogits(step.selfCond) : null,
      },
    ]);
    return { type: 'logits', id: step.id, logits: compactLogits(logits, this.topK) };
  }
}
