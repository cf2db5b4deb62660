import { z } from 'zod';
import { BlockScheduleSchema } from '../ssd2/schedule';

/** Bundle format version this code reads. See docs/model-bundle.md. */
export const BUNDLE_FORMAT_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path inside the bundle');

const BundleFileSchema = z.object({
  path: relativePath,
  bytes: z.number().int().min(0),
  sha256,
});

export const ManifestSchema = z
  .object({
    format: z.literal('ssd2-bundle'),
    format_version: z.literal(BUNDLE_FORMAT_VERSION),
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only'),
    version: z.string().min(1),
    role: z.enum(['core', 'user']),
    tokenizer: relativePath,
    vocab_size: z.number().int().min(2),
    eos_token_id: z.number().int().min(0),
    simplex_k: z.number().positive(),
    schedule: z.literal('cosine'),
    t_train: z.number().int().min(1),
    block_size: z.number().int().min(1),
    max_context: z.number().int().min(1),
    timestep_range: z.tuple([z.number().min(0), z.number().max(1)]).refine(([lo, hi]) => lo < hi, 'lo must be < hi'),
    self_conditioning: z.boolean(),
    /**
     * How a block's positions share the noise level (docs/model-bundle.md, "Block schedule"):
     * `shared` (SSD-2) one timestep per step for the whole block; `staggered` position j runs its own
     * `window` steps from pure noise to clean after the positions before it, and denoiser.onnx takes
     * a timestep per position [n, B]. Absent means shared.
     */
    block_schedule: BlockScheduleSchema.default({ kind: 'shared' }),
    architecture: z.object({
      type: z.string(),
      layers: z.number().int().min(1),
      hidden: z.number().int().min(1),
      heads: z.number().int().min(1),
      head_dim: z.number().int().min(1),
      ffn: z.number().int().min(1),
      max_positions: z.number().int().min(1),
      /** How positions enter the graphs (informational: both take position_ids); absent means learned. */
      positions: z.enum(['learned', 'rotary']).optional(),
      /**
       * Where block position i is read out: from its own hidden state (aligned), or from the one to
       * its left, as a causal LM predicts (shifted; the context encoder then also returns the last
       * context token's hidden state, which the denoiser takes). Absent means aligned.
       */
      readout: z.enum(['aligned', 'shifted']).default('aligned'),
      /**
       * Whether the denoiser adds each noisy position's own log-likelihood to its logits (informational:
       * it happens inside denoiser.onnx). Absent means no.
       */
      likelihood: z.boolean().default(false),
      /**
       * How the clean context is attended. `cached`: it is causal, encoded once into a key/value cache
       * (context_encoder.onnx) that each step's block attends to. `full`: the context attends to the
       * noisy block (SSD-LM's bidirectional attention), so denoiser.onnx takes the whole sequence at
       * every step and a step's cost grows with the context. Absent means cached.
       */
      context: z.enum(['cached', 'full']).default('cached'),
      /** Attention among a block's positions (informational: it happens inside denoiser.onnx). Absent means bidirectional. */
      block_attention: z.enum(['bidirectional', 'causal']).default('bidirectional'),
      parameters: z.number().int().min(0),
      dtype: z.enum(['float32', 'float16']).default('float32'),
    }),
    /** context_encoder is absent exactly when architecture.context is `full`. */
    graphs: z.object({ context_encoder: relativePath.optional(), denoiser: relativePath }),
    files: z.array(BundleFileSchema).min(1),
    training: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.eos_token_id >= m.vocab_size)
      ctx.addIssue({ code: 'custom', path: ['eos_token_id'], message: `must be < vocab_size ${m.vocab_size}` });
    if (m.max_context + m.block_size > m.architecture.max_positions) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_context'],
        message: `max_context + block_size exceeds architecture.max_positions ${m.architecture.max_positions}`,
      });
    }
    const full = m.architecture.context === 'full';
    if (full && m.block_schedule.kind !== 'shared')
      ctx.addIssue({
        code: 'custom',
        path: ['block_schedule'],
        message: 'a full-attention bundle takes one timestep per block ("shared")',
      });
    // A clean position is final only because its evidence outweighs any prior (docs/model-bundle.md).
    if (m.block_schedule.kind === 'staggered' && !m.architecture.likelihood)
      ctx.addIssue({ code: 'custom', path: ['block_schedule'], message: 'a staggered schedule needs architecture.likelihood true' });
    if (!full && !m.graphs.context_encoder)
      ctx.addIssue({ code: 'custom', path: ['graphs', 'context_encoder'], message: 'required unless architecture.context is "full"' });
    if (full && m.graphs.context_encoder)
      ctx.addIssue({
        code: 'custom',
        path: ['graphs', 'context_encoder'],
        message: 'a full-attention bundle has no context encoder (its denoiser takes the whole sequence)',
      });
    const listed = new Set(m.files.map((f) => f.path));
    for (const [field, path] of [
      ['tokenizer', m.tokenizer],
      ['graphs.context_encoder', m.graphs.context_encoder],
      ['graphs.denoiser', m.graphs.denoiser],
    ] as const) {
      if (path !== undefined && !listed.has(path))
        ctx.addIssue({ code: 'custom', path: field.split('.'), message: `${path} is not listed in files` });
    }
  });

export type Manifest = z.output<typeof ManifestSchema>;
export type BundleFile = z.output<typeof BundleFileSchema>;
