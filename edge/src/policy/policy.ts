import { z } from 'zod';
import { ApiError } from '../errors/api-error';

const MAX_PATTERN_LENGTH = 200;

/** A tenant's prompt policy. Every field is optional; an empty policy blocks nothing. */
export const PolicySchema = z
  .object({
    max_prompt_tokens: z.number().int().min(1).optional(),
    /** Case-insensitive substrings. */
    blocked_terms: z.array(z.string().min(1).max(200)).max(1000).optional(),
    /** JavaScript regular expressions, matched case-insensitively. */
    blocked_patterns: z
      .array(
        z
          .string()
          .min(1)
          .max(MAX_PATTERN_LENGTH)
          .refine((p) => isRegExp(p), 'not a valid regular expression'),
      )
      .max(100)
      .optional(),
    blocked_token_ids: z.array(z.number().int().min(0)).max(10_000).optional(),
    rate_limit_per_minute: z.number().int().min(1).max(1_000_000).optional(),
    /** Denoising steps one call may ask for at most (steps per block x blocks); else MAX_STEPS_PER_CALL. */
    max_steps_per_call: z.number().int().min(1).max(100_000_000).optional(),
    /** Bytes of files (batch inputs and outputs) the tenant may store; else FILES_QUOTA_BYTES. */
    max_stored_file_bytes: z.number().int().min(0).optional(),
    /** Bytes of uploaded user models the tenant may store; else USER_MODEL_QUOTA_BYTES. */
    max_user_model_bytes: z.number().int().min(0).optional(),
    /** Generations one API key may run at once; else MAX_CONCURRENT_GENERATIONS_PER_KEY. */
    max_concurrent_generations: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();

export type Policy = z.infer<typeof PolicySchema>;

function isRegExp(source: string): boolean {
  try {
    new RegExp(source, 'iu');
    return true;
  } catch {
    return false;
  }
}

/** What matched, returned to the caller so they can tell which rule they hit. */
export type PolicyRule =
  | { type: 'max_prompt_tokens'; limit: number; tokens: number }
  | { type: 'blocked_token_id'; token_id: number }
  | { type: 'blocked_term'; term: string }
  | { type: 'blocked_pattern'; pattern: string };

/** The prompt as policy sees it: its text and its tokens (as the core model will get them). */
export interface PromptForPolicy {
  text: string;
  tokens: readonly number[];
}

/** The first rule the prompt breaks, or null. Cheap checks run first. */
export function findViolation(policy: Policy, prompt: PromptForPolicy): PolicyRule | null {
  if (policy.max_prompt_tokens !== undefined && prompt.tokens.length > policy.max_prompt_tokens) {
    return { type: 'max_prompt_tokens', limit: policy.max_prompt_tokens, tokens: prompt.tokens.length };
  }
  if (policy.blocked_token_ids?.length) {
    const blocked = new Set(policy.blocked_token_ids);
    const hit = prompt.tokens.find((t) => blocked.has(t));
    if (hit !== undefined) return { type: 'blocked_token_id', token_id: hit };
  }
  const lower = prompt.text.toLowerCase();
  const term = policy.blocked_terms?.find((t) => lower.includes(t.toLowerCase()));
  if (term !== undefined) return { type: 'blocked_term', term };
  const pattern = policy.blocked_patterns?.find((p) => new RegExp(p, 'iu').test(prompt.text));
  if (pattern !== undefined) return { type: 'blocked_pattern', pattern };
  return null;
}

function describe(rule: PolicyRule): string {
  switch (rule.type) {
    case 'max_prompt_tokens':
      return `the prompt has ${rule.tokens} tokens; this tenant allows at most ${rule.limit}`;
    case 'blocked_token_id':
      return `the prompt contains blocked token id ${rule.token_id}`;
    case 'blocked_term':
      return `the prompt contains the blocked term "${rule.term}"`;
    case 'blocked_pattern':
      return `the prompt matches the blocked pattern /${rule.pattern}/`;
  }
}

/** Throws 400 `prompt_blocked` naming the rule when the policy forbids the prompt. */
export function enforcePolicy(policy: Policy, prompt: PromptForPolicy, param: string): void {
  const rule = findViolation(policy, prompt);
  if (rule)
    throw new ApiError(400, 'invalid_request_error', 'prompt_blocked', `prompt blocked by policy: ${describe(rule)}`, param, { rule });
}
