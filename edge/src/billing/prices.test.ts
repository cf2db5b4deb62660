import { describe, expect, it } from 'vitest';
import { costMicroUsd, maxCostMicroUsd, priceTable } from './prices';

const raw = JSON.stringify({
  default: { per_call_usd: 0.001, per_1k_tokens_usd: 0.01, per_step_usd: 0.00001 },
  models: { big: { per_call_usd: 1 } },
  batch_multiplier: 0.5,
});

describe('price table', () => {
  it('prices per call, per 1k tokens and per step, in whole micro-USD', () => {
    const t = priceTable(raw);
    expect(costMicroUsd(t, { model: 'tiny-core', promptTokens: 50, completionTokens: 50, stepsRun: 20, batch: false })).toBe(
      1000 + 1000 + 200,
    );
    expect(costMicroUsd(t, { model: 'tiny-core', promptTokens: 50, completionTokens: 50, stepsRun: 20, batch: true })).toBe(1100);
    expect(costMicroUsd(t, { model: 'big', promptTokens: 10, completionTokens: 10, stepsRun: 10, batch: false })).toBe(1_000_000);
    expect(maxCostMicroUsd(t, { model: 'tiny-core', promptTokens: 10, maxTokens: 30, steps: 10, blockSize: 25, batch: false })).toBe(
      1000 + 400 + 200,
    );
  });

  it('is free without PRICES and refuses a malformed table as a configuration error', () => {
    expect(costMicroUsd(priceTable(undefined), { model: 'x', promptTokens: 9, completionTokens: 9, stepsRun: 9, batch: false })).toBe(0);
    expect(() => priceTable('{"default": {"per_call_usd": -1}}')).toThrow(/PRICES.default.per_call_usd/);
    expect(() => priceTable('{"default": {}, "extra": 1}')).toThrow(/invalid_price_config|PRICES/);
    expect(() => priceTable('nope')).toThrow(/not valid JSON/);
  });
});
