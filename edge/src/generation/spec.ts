import { z } from 'zod';
import { GenerateOptionsSchema } from '../../../shared/ssd2/options';
import { ModelRefSchema, type BlockEvent, type DoneEvent, type StepEvent } from '../../../shared/protocol';

/** What the edge route hands a Generation Durable Object: everything is already tokenized and checked. */
export const GenerationSpecSchema = z.object({
  tenantId: z.string(),
  keyId: z.string(),
  modelId: z.string(),
  model: ModelRefSchema,
  /** Tokens the core model sees. */
  prompt: z.array(z.number().int().min(0)),
  /** Tokens only a user model sees in front of the prompt (the private context). */
  userContext: z.array(z.number().int().min(0)).optional(),
  options: GenerateOptionsSchema,
  mode: z.enum(['fused', 'per_step']),
  /** A tenant user-model bundle run on the GPU worker (fused mode): its path under the tenant's prefix. */
  userModel: z.string().optional(),
  /** The user model as usage records name it: `name@version` when uploaded, else the bundle path. */
  userModelId: z.string().optional(),
  /** A client-side user model joins over this generation's WebSocket (per-step mode). */
  client: z
    .object({ deadlineMs: z.number().int().min(1), onTimeout: z.enum(['core_only', 'fail']), joinTimeoutMs: z.number().int().min(1) })
    .optional(),
  progress: z.boolean(),
});

export type GenerationSpec = z.output<typeof GenerationSpecSchema>;
export type GenerationSpecInput = z.input<typeof GenerationSpecSchema>;

/**
 * What a Generation streams back to the route, one JSON object per line: the shared wire events
 * (shared/protocol/events.ts) and an OpenAI-shaped error.
 */
export type GenerationStreamEvent =
  | StepEvent
  | BlockEvent
  | DoneEvent
  | {
      type: 'error';
      status: number;
      error: { message: string; type: string; param: string | null; code: string | null; [extra: string]: unknown };
    };
