import { z } from 'zod';
import { ApiError } from '../errors/api-error';
import { firstIssue } from '../../../shared/errors';

const usd = z.number().min(0).max(1_000);

/** What one model costs: a fee per call, per 1,000 tokens (prompt + output) and per denoising step run. */
const ModelPriceSchema = z
  .object({
    per_call_usd: usd.default(0),
    per_1k_tokens_usd: usd.default(0),
    per_step_usd: usd.default(0),
  })
  .strict();

/**
 * The price table, from the `PRICES` variable (JSON). `models` overrides `default` per core model;
 * `batch_multiplier` scales the price of batch lines (e.g. 0.5 for a batch discount).
 */
export const PriceTableSchema = z
  .object({
    currency: z.literal('usd').default('usd'),
    default: ModelPriceSchema,
    models: z.record(z.string(), ModelPriceSchema).default({}),
    batch_multiplier: z.number().min(0).max(10).default(1),
  })
  .strict();

export type ModelPrice = z.output<typeof ModelPriceSchema>;
export type PriceTable = z.output<typeof PriceTableSchema>;

/** With no PRICES configured every call is free (and still metered). */
const FREE: PriceTable = PriceTableSchema.parse({ default: {} });

let cached: { raw: string; table: PriceTable } | null = null;

/** The validated price table; a malformed PRICES is a configuration bug (500 `invalid_price_config`). */
export function priceTable(raw: string | undefined): PriceTable {
  if (!raw) return FREE;
  if (cached?.raw === raw) return cached.table;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ApiError(500, 'api_error', 'invalid_price_config', 'PRICES is not valid JSON');
  }
  const parsed = PriceTableSchema.safeParse(json);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw new ApiError(500, 'api_error', 'invalid_price_config', `PRICES.${field ?? ''}: ${message}`);
  }
  cached = { raw, table: parsed.data };
  return parsed.data;
}

export interface Billable {
  model: string;
  promptTokens: number;
  completionTokens: number;
  stepsRun: number;
  batch: boolean;
}

/** Micro-USD (integers, so a ledger sums exactly). */
export const MICRO = 1_000_000;
export const toUsd = (micro: number) => micro / MICRO;

/** The price of one finished call in micro-USD, rounded once per call. */
export function costMicroUsd(table: PriceTable, b: Billable): number {
  const p = table.models[b.model] ?? table.default;
  const usdCost = p.per_call_usd + ((b.promptTokens + b.completionTokens) / 1000) * p.per_1k_tokens_usd + b.stepsRun * p.per_step_usd;
  return Math.round(usdCost * MICRO * (b.batch ? table.batch_multiplier : 1));
}

/** The most a call can cost: every block runs every step and the output reaches max_tokens. */
export function maxCostMicroUsd(
  table: PriceTable,
  c: { model: string; promptTokens: number; maxTokens: number; steps: number; blockSize: number; batch: boolean },
): number {
  const blocks = Math.ceil(c.maxTokens / Math.max(1, c.blockSize));
  return costMicroUsd(table, {
    model: c.model,
    promptTokens: c.promptTokens,
    completionTokens: c.maxTokens,
    stepsRun: blocks * c.steps,
    batch: c.batch,
  });
}
