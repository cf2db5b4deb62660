import type { GenerationSpec, GenerationStreamEvent } from './spec';

/** One metering row per finished generation. */
export async function recordUsage(db: D1Database, id: string, spec: GenerationSpec, done: Extract<GenerationStreamEvent, { type: 'done' }>): Promise<void> {
  await db
    .prepare('INSERT INTO usage (id, tenant_id, key_id, model, mode, prompt_tokens, completion_tokens, steps_run, finish_reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .bind(id, spec.tenantId, spec.keyId, spec.modelId, spec.mode, spec.prompt.length, done.tokens.length, done.stepsRun, done.finishReason, Date.now())
    .run();
}
