import type { Manifest } from './manifest';

/** The inputs and outputs each bundle graph must have (docs/model-bundle.md). */
export interface GraphSpec {
  inputs: readonly string[];
  outputs: readonly string[];
}

const CONTEXT_ENCODER: GraphSpec = {
  inputs: ['input_ids', 'position_ids', 'past_keys', 'past_values', 'attention_mask'],
  outputs: ['present_keys', 'present_values'],
};

const DENOISER: GraphSpec = {
  inputs: ['simplex_logits', 'self_cond_logits', 'timestep', 'position_ids', 'past_keys', 'past_values', 'past_mask'],
  outputs: ['logits'],
};

/** A shifted readout hands the last context token's hidden state from the encoder to the denoiser. */
export const LAST_HIDDEN = 'last_hidden';
export const CONTEXT_HIDDEN = 'context_hidden';

/** A full-attention bundle's one graph: the clean context and the noisy block in one sequence. */
const FULL_DENOISER: GraphSpec = {
  inputs: ['input_ids', 'simplex_logits', 'self_cond_logits', 'timestep', 'position_ids', 'attention_mask'],
  outputs: ['logits'],
};

/**
 * The graphs' names for this manifest: self_cond_logits only with self_conditioning, the
 * hidden-state handoff only when shifted; a full-attention bundle has no context encoder.
 */
export function graphSpecs(m: Pick<Manifest, 'self_conditioning' | 'architecture'>): {
  contextEncoder: GraphSpec | null;
  denoiser: GraphSpec;
} {
  const shifted = m.architecture.readout === 'shifted';
  if (m.architecture.context === 'full') {
    return {
      contextEncoder: null,
      denoiser: {
        inputs: FULL_DENOISER.inputs.filter((n) => m.self_conditioning || n !== 'self_cond_logits'),
        outputs: FULL_DENOISER.outputs,
      },
    };
  }
  return {
    contextEncoder: {
      inputs: CONTEXT_ENCODER.inputs,
      outputs: shifted ? [...CONTEXT_ENCODER.outputs, LAST_HIDDEN] : CONTEXT_ENCODER.outputs,
    },
    denoiser: {
      inputs: [...DENOISER.inputs.filter((n) => m.self_conditioning || n !== 'self_cond_logits'), ...(shifted ? [CONTEXT_HIDDEN] : [])],
      outputs: DENOISER.outputs,
    },
  };
}

/** Returns a description of what differs, or null when `actual` matches `expected` as sets. */
export function diffNames(kind: 'inputs' | 'outputs', expected: readonly string[], actual: readonly string[]): string | null {
  const missing = expected.filter((n) => !actual.includes(n));
  const extra = actual.filter((n) => !expected.includes(n));
  if (!missing.length && !extra.length) return null;
  const parts = [];
  if (missing.length) parts.push(`missing ${kind} ${missing.join(', ')}`);
  if (extra.length) parts.push(`unexpected ${kind} ${extra.join(', ')}`);
  return parts.join('; ');
}
