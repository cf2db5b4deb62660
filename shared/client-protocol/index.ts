import { z } from 'zod';
import { CompactLogitsSchema } from '../protocol/schemas';
import { BlockScheduleSchema } from '../ssd2/schedule';

/**
 * Messages of the client-model WebSocket (edge <-> a caller's user model). The edge sends the
 * step state; the client answers with its user model's compact logits. The client prepends its
 * private context itself: it never crosses this socket.
 */
export const CLIENT_PROTOCOL_VERSION = 1;

const tokenId = z.number().int().min(0);

/** The client's user model as the engine needs to know it (checked against the core: tokenizer, vocab, K, schedule). */
export const ClientModelInfoSchema = z.object({
  name: z.string().max(256),
  role: z.literal('user'),
  vocabSize: z.number().int().min(1),
  blockSize: z.number().int().min(1),
  maxContext: z.number().int().min(1),
  simplexK: z.number(),
  schedule: z.string(),
  tTrain: z.number().int().min(1),
  timestepRange: z.tuple([z.number(), z.number()]),
  selfConditioning: z.boolean(),
  eosTokenId: tokenId,
  tokenizerSha256: z.string(),
  /** 'shifted': the engine starts an empty prompt after EOS for it (docs/model-bundle.md). */
  readout: z.enum(['aligned', 'shifted']).optional(),
  /** How the block's positions share the noise level (absent: shared); must match the core's. */
  blockSchedule: BlockScheduleSchema.optional(),
});

export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), v: z.literal(CLIENT_PROTOCOL_VERSION), info: ClientModelInfoSchema }),
  z.object({ type: z.literal('logits'), id: z.number().int().min(0), logits: CompactLogitsSchema }),
]);

export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), generationId: z.string() }),
  z.object({
    type: z.literal('step'),
    id: z.number().int().min(0),
    /** Prompt + generated tokens (the client adds its private context in front). */
    context: z.array(tokenId),
    noise: z.object({
      seed: z.number().int(),
      block: z.number().int(),
      step: z.number().int(),
      steps: z.number().int(),
      estimate: z.array(z.array(tokenId)).nullable(),
      blockLength: z.number().int(),
    }),
    /** The client model's previous logits as it sent them; null at a block's first step. */
    selfCond: CompactLogitsSchema.nullable(),
    deadlineMs: z.number().int(),
  }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  z.object({ type: z.literal('done'), reason: z.string() }),
]);

export type ClientMessage = z.infer<typeof ClientMessageSchema>;
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type ClientModelInfo = z.infer<typeof ClientModelInfoSchema>;
