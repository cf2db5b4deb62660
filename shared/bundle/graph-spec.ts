/** The inputs and outputs each bundle graph must have (docs/model-bundle.md). */
export const CONTEXT_ENCODER_SPEC = {
  inputs: ['input_ids', 'position_ids', 'past_keys', 'past_values', 'attention_mask'],
  outputs: ['present_keys', 'present_values'],
} as const;

export const DENOISER_SPEC = {
  /** self_cond_logits is present only when the manifest says self_conditioning. */
  inputs: ['simplex_logits', 'self_cond_logits', 'timestep', 'position_ids', 'past_keys', 'past_values', 'past_mask'],
  outputs: ['logits'],
} as const;

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
