import type { GenerationSpec } from '../generation/spec';

export type UsageKind = 'completion' | 'chat' | 'batch';
/**
 * ok: finished, charged; partial: ended by the caller (disconnect, cancel, its client-side user
 * model failing) after GPU work ran, charged for what was delivered; blocked, failed (ended by a
 * refusal or by the platform), replayed: free.
 */
export type UsageStatus = 'ok' | 'partial' | 'blocked' | 'failed' | 'replayed';
export type Collaboration = 'none' | 'user_model' | 'client_model';

/** One metering row: what one call used and what it cost (micro-USD). */
export interface UsageRecord {
  id: string;
  tenantId: string;
  keyId: string;
  kind: UsageKind;
  status: UsageStatus;
  errorCode: string | null;
  model: string;
  userModel: string | null;
  mode: string;
  collaboration: Collaboration;
  promptTokens: number;
  completionTokens: number;
  stepsRun: number;
  stepsSaved: number;
  workerMs: number;
  costMicroUsd: number;
  finishReason: string;
  batchId: string | null;
  customId: string | null;
  idempotencyKey: string | null;
  createdAt: number;
}

export type { DoneEvent } from '../../../shared/protocol';

/** The counters of a call that did no work: nothing generated, nothing charged. */
export const NO_WORK = {
  promptTokens: 0,
  completionTokens: 0,
  stepsRun: 0,
  stepsSaved: 0,
  workerMs: 0,
  costMicroUsd: 0,
  finishReason: '',
} as const satisfies Partial<UsageRecord>;

/** A batch line's usage row before any work ran (failed, free); callers fill in what they know. */
export function batchLineUsage(line: {
  id: string;
  tenantId: string;
  keyId: string;
  batchId: string;
  customId: string | null;
  model: string;
  createdAt: number;
}): UsageRecord {
  return {
    ...line,
    kind: 'batch',
    status: 'failed',
    errorCode: null,
    userModel: null,
    mode: 'fused',
    collaboration: 'none',
    ...NO_WORK,
    idempotencyKey: null,
  };
}

/** UTC calendar day of a timestamp, as /v1/usage groups it. */
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The fields a spec determines (model, modes, prompt size). */
export function usageFromSpec(spec: GenerationSpec): Pick<UsageRecord, 'model' | 'userModel' | 'mode' | 'collaboration' | 'promptTokens'> {
  return {
    model: spec.modelId,
    userModel: spec.userModelId ?? spec.userModel ?? null,
    mode: spec.mode,
    collaboration: spec.client ? 'client_model' : spec.userModel ? 'user_model' : 'none',
    promptTokens: spec.prompt.length,
  };
}

/**
 * The INSERT of one record. OR IGNORE: a record id is written once, whoever tries again (a
 * redelivered batch line) changes nothing and is not charged twice.
 */
export function insertUsage(db: D1Database, r: UsageRecord): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO usage (id, tenant_id, key_id, kind, status, error_code, model, user_model, mode, collaboration,
      prompt_tokens, completion_tokens,
        steps_run, steps_saved, worker_ms, cost_micro_usd, finish_reason, batch_id, custom_id, idempotency_key, created_at, day)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      r.id,
      r.tenantId,
      r.keyId,
      r.kind,
      r.status,
      r.errorCode,
      r.model,
      r.userModel,
      r.mode,
      r.collaboration,
      r.promptTokens,
      r.completionTokens,
      r.stepsRun,
      r.stepsSaved,
      Math.round(r.workerMs),
      r.costMicroUsd,
      r.finishReason,
      r.batchId,
      r.customId,
      r.idempotencyKey,
      r.createdAt,
      utcDay(r.createdAt),
    );
}
