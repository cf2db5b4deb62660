import { costMicroUsd, priceTable } from '../billing/prices';
import type { Env, Principal } from '../env';
import { releaseReservation } from '../quota';
import type { GenerationSpec } from '../generation/spec';
import { insertUsage, NO_WORK, usageFromSpec, type DoneEvent, type UsageKind, type UsageRecord, type UsageStatus } from './usage-store';

/** What a generation delivered before it ended: finished blocks, their tokens and steps. */
export interface Delivered {
  blocks: number;
  tokens: number;
  stepsRun: number;
  stepsSaved: number;
}

/**
 * Whether an error ends a generation because of its caller (charged for what was delivered) rather
 * than the platform (free): a cancel, or the caller's client-side user model failing or timing out.
 */
export function callerCaused(error: { code?: string | null; param?: string | null }): boolean {
  return error.code === 'generation_cancelled' || error.param === 'client_model';
}

/** Adds one to the per-minute counter of calls refused before authentication. */
function countAnonymousRefusal(db: D1Database, kind: UsageKind, errorCode: string, at: number): Promise<unknown> {
  return db
    .prepare(
      'INSERT INTO anonymous_refusals (minute, kind, error_code, count) VALUES (?, ?, ?, 1) ON CONFLICT (minute, kind, error_code) DO ' +
        'UPDATE SET count = count + 1',
    )
    .bind(Math.floor(at / 60_000), kind, errorCode.slice(0, 64))
    .run();
}

/**
 * Who a call refused before its API key was resolved (401) is, in the record the route sees; it is
 * counted in anonymous_refusals, never written to usage. Neither id can be a real tenant's or key's.
 */
export const ANONYMOUS = { tenantId: '~anonymous', keyId: '~none' } as const;

/**
 * Collects what one API call used and writes its single usage record. The route tells it the
 * spec once prepared and the outcome once known; whatever ends first (complete, fail, replayed)
 * writes the record, later calls are no-ops. `record` is awaited before the response (or the
 * stream's last event) goes out. The record settles the call's budget reservation (quota/): the
 * usage row is written and the reservation deleted in one D1 transaction.
 *
 * The principal is read when the record is written: a call refused before authentication (401)
 * has none and is only counted (anonymous_refusals), never written to usage.
 */
export class UsageMeter {
  private spec: GenerationSpec | null = null;
  private written: UsageRecord | null = null;
  /** Set by the route when the response is a stream that writes the record itself. */
  streaming = false;

  constructor(
    private readonly env: Env,
    private readonly principal: () => Principal | undefined,
    readonly kind: UsageKind,
    readonly requestId: string,
    readonly idempotencyKey: string | null,
    private readonly startedAt = Date.now(),
  ) {}

  get record(): UsageRecord | null {
    return this.written;
  }

  private modelHint = '';

  setSpec(spec: GenerationSpec): void {
    this.spec = spec;
  }

  /** The model the request named, recorded even when the call fails before a spec exists. */
  setModelHint(model: string): void {
    this.modelHint = model;
  }

  /** A finished generation: charged by the price table. Returns the record. */
  async complete(done: DoneEvent, workerMs: number): Promise<UsageRecord> {
    const spec = this.spec!;
    const cost = costMicroUsd(priceTable(this.env.PRICES), {
      model: spec.modelId,
      promptTokens: spec.prompt.length,
      completionTokens: done.tokens.length,
      stepsRun: done.stepsRun,
      batch: false,
    });
    return this.write('ok', null, {
      completionTokens: done.tokens.length,
      stepsRun: done.stepsRun,
      stepsSaved: done.stepsSaved,
      workerMs,
      costMicroUsd: cost,
      finishReason: done.finishReason,
    });
  }

  /**
   * A generation the caller ended (disconnect, cancel, its client-side user model failing) after
   * GPU work ran: charged by the price table for the blocks delivered until then (their tokens and
   * steps); the block in progress is not charged. Returns the record.
   */
  async partial(delivered: Delivered, errorCode: string, workerMs: number): Promise<UsageRecord> {
    const spec = this.spec!;
    if (delivered.blocks === 0) return this.fail('failed', errorCode, workerMs);
    const cost = costMicroUsd(priceTable(this.env.PRICES), {
      model: spec.modelId,
      promptTokens: spec.prompt.length,
      completionTokens: delivered.tokens,
      stepsRun: delivered.stepsRun,
      batch: false,
    });
    return this.write('partial', errorCode, {
      completionTokens: delivered.tokens,
      stepsRun: delivered.stepsRun,
      stepsSaved: delivered.stepsSaved,
      workerMs,
      costMicroUsd: cost,
    });
  }

  /**
   * A blocked, refused or failed call: recorded, free. `work`: what a generation the platform
   * failed had delivered (kept in the record, not charged).
   */
  fail(status: Exclude<UsageStatus, 'ok' | 'partial'>, errorCode: string | null, workerMs = 0, work?: Delivered): Promise<UsageRecord> {
    return this.write(status, errorCode, {
      workerMs,
      ...(work ? { completionTokens: work.tokens, stepsRun: work.stepsRun, stepsSaved: work.stepsSaved } : {}),
    });
  }

  private async write(status: UsageStatus, errorCode: string | null, outcome: Partial<UsageRecord>): Promise<UsageRecord> {
    if (this.written) return this.written;
    const known = this.principal();
    const principal = known ?? ANONYMOUS;
    const record: UsageRecord = {
      id: this.requestId,
      tenantId: principal.tenantId,
      keyId: principal.keyId,
      kind: this.kind,
      status,
      errorCode,
      model: this.modelHint,
      userModel: null,
      mode: '',
      collaboration: 'none',
      ...NO_WORK,
      ...(this.spec ? usageFromSpec(this.spec) : {}),
      batchId: null,
      customId: null,
      idempotencyKey: this.idempotencyKey,
      createdAt: this.startedAt,
      ...outcome,
    };
    this.written = record;
    if (!known) {
      // Refused before authentication: a counter per minute, not a row per call (anyone can send these).
      await countAnonymousRefusal(this.env.DB, this.kind, errorCode ?? 'unknown', this.startedAt);
      return record;
    }
    await this.env.DB.batch([insertUsage(this.env.DB, record), releaseReservation(this.env.DB, this.requestId)]);
    return record;
  }
}
