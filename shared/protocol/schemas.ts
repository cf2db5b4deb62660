import { z } from 'zod';
import { GenerateOptionsSchema } from '../ssd2/options';

/** Bumped when a field's meaning changes; peers refuse versions they do not know. */
export const PROTOCOL_VERSION = 1;
export const MAX_TOP_K = 256;
export const DEFAULT_TOP_K = 32;
/** Upper bounds that do not depend on the model (the worker checks the model's own limits). */
const MAX_BLOCK_LENGTH = 1024;
const MAX_CONTEXT_TOKENS = 100_000;

const tokenId = z.number().int().min(0);
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');
const hash = z.string().regex(/^[0-9a-f]{64}$/, 'not a sha256 hex digest');
/** A name that is one path segment of an S3 key: no '/', and never '.' or '..' (which would leave its prefix). */
const safeName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}$/, 'must match [A-Za-z0-9._-]{1,128}')
  .refine((n) => n !== '.' && n !== '..', 'must not be "." or ".."');

export const CompactLogitsSchema = z.object({
  length: z.number().int().min(1).max(MAX_BLOCK_LENGTH),
  vocabSize: z.number().int().min(1),
  k: z.number().int().min(1).max(MAX_TOP_K),
  idWidth: z.union([z.literal(2), z.literal(4)]),
  ids: base64,
  values: base64,
  floor: base64,
});

/** A core bundle by name and version (the worker maps it to an S3 prefix). */
export const ModelRefSchema = z.object({ name: safeName, version: safeName });

/** The context the block is conditioned on: the tokens, or the hash of tokens sent before. */
const contextFields = {
  context: z.array(tokenId).max(MAX_CONTEXT_TOKENS).optional(),
  contextHash: hash.optional(),
};

/** A user model bundle under its tenant's prefix: tenants/<tenant>/<bundle>/ in the model bucket. */
export const UserModelRefSchema = z.object({
  tenant: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must match [A-Za-z0-9_-]{1,64}'),
  bundle: z.string().min(1).max(512),
});

const StepUserSchema = UserModelRefSchema.extend({
  ...contextFields,
  /** The user model's previous raw logits (its own self-conditioning state). */
  selfCond: CompactLogitsSchema.nullable().default(null),
  lambda: z.number().min(0).max(1),
});

/** One denoising step of one block. Everything the step needs is here: workers keep no state. */
export const StepRequestSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    model: ModelRefSchema,
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    block: z.number().int().min(0),
    step: z.number().int().min(0),
    steps: z.number().int().min(1).max(5000),
    blockLength: z.number().int().min(1).max(MAX_BLOCK_LENGTH),
    /** Projection of the previous step: token ids at +K per position (several = multi-hot); null at step 0. */
    estimate: z.array(z.array(tokenId).min(1)).nullable(),
    /** This model's previous raw logits as returned by the last step; null at step 0. */
    selfCond: CompactLogitsSchema.nullable(),
    ...contextFields,
    /** k of the compact logits in the reply. */
    topK: z.number().int().min(1).max(MAX_TOP_K).default(DEFAULT_TOP_K),
    user: StepUserSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.step >= r.steps) ctx.addIssue({ code: 'custom', path: ['step'], message: `must be < steps (${r.steps})` });
    if (r.estimate && r.estimate.length !== r.blockLength)
      ctx.addIssue({ code: 'custom', path: ['estimate'], message: `has ${r.estimate.length} positions, blockLength is ${r.blockLength}` });
    if (r.context === undefined && r.contextHash === undefined)
      ctx.addIssue({ code: 'custom', path: ['context'], message: 'give context or contextHash' });
    if (r.user && r.user.context === undefined && r.user.contextHash === undefined)
      ctx.addIssue({ code: 'custom', path: ['user', 'context'], message: 'give context or contextHash' });
  });

const TimingSchema = z.object({
  queueMs: z.number(),
  runMs: z.number(),
  totalMs: z.number(),
  batchSize: z.number().int(),
});

export const StepResponseSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  model: ModelRefSchema,
  /** The core model's raw logits: send them back as selfCond next step. */
  logits: CompactLogitsSchema,
  contextHash: hash,
  /** Present when the request named a user model. */
  user: z.object({ logits: CompactLogitsSchema, contextHash: hash }).optional(),
  /** (1-λ)·log_softmax(core) + λ·log_softmax(user) of the two compact blocks above (shared mixLogits). */
  mixed: CompactLogitsSchema.optional(),
  timing: TimingSchema,
});

/** Fused: the worker runs the shared block loop itself and streams each finished block. */
export const GenerateRequestSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  model: ModelRefSchema,
  prompt: z.array(tokenId).max(MAX_CONTEXT_TOKENS),
  /** Unknown keys are refused (a misspelt option would otherwise be ignored). */
  options: GenerateOptionsSchema.strict().optional(),
  /** Logits pass through the compact wire form with this k, so a fused run gives the same tokens as the same run step by step. */
  topK: z.number().int().min(1).max(MAX_TOP_K).default(DEFAULT_TOP_K),
  user: UserModelRefSchema.extend({ context: z.array(tokenId).max(MAX_CONTEXT_TOKENS).default([]) }).optional(),
});

export const GenerateEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('block'),
    block: z.number().int(),
    tokens: z.array(z.number().int()),
    stepsRun: z.number().int(),
    stepsSaved: z.number().int(),
  }),
  z.object({
    type: z.literal('done'),
    tokens: z.array(z.number().int()),
    /** The engine's reason; `stop` only where the edge ended the generation at a caller's stop sequence (a worker never sends it). */
    finishReason: z.enum(['eos', 'length', 'context', 'stop']),
    blocks: z.number().int(),
    stepsRun: z.number().int(),
    stepsSaved: z.number().int(),
  }),
  z.object({ type: z.literal('error'), error: z.object({ code: z.string(), message: z.string(), field: z.string().nullable() }) }),
]);

/** Every 4xx/5xx body. `field` names the request field at fault (dot path), or null. */
export const ErrorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().nullable() }),
});

export type ModelRef = z.infer<typeof ModelRefSchema>;
export type UserModelRef = z.infer<typeof UserModelRefSchema>;
export type StepRequest = z.output<typeof StepRequestSchema>;
export type StepRequestInput = z.input<typeof StepRequestSchema>;
export type StepResponse = z.infer<typeof StepResponseSchema>;
export type GenerateRequest = z.output<typeof GenerateRequestSchema>;
export type GenerateRequestInput = z.input<typeof GenerateRequestSchema>;
export type GenerateEvent = z.infer<typeof GenerateEventSchema>;
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
