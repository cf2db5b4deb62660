import { describe, expect, it } from 'vitest';
import type { GenerationSpec } from './spec';
import { runFused } from './fused';
import { WorkerPool } from './worker-pool';

/** A worker whose /v1/generate streams `blocks` block events and a done event, and notes when its reader cancels. */
function streamingWorker(blocks: number) {
  const state = { cancelled: false, sent: 0 };
  const fetcher: typeof fetch = async () => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const line =
          state.sent < blocks
            ? { type: 'block', block: state.sent, tokens: [1, 2], stepsRun: 4, stepsSaved: 0 }
            : { type: 'done', tokens: [], finishReason: 'length', blocks, stepsRun: 4 * blocks, stepsSaved: 0 };
        controller.enqueue(encoder.encode(`${JSON.stringify(line)}\n`));
        if (state.sent++ >= blocks) controller.close();
      },
      cancel() {
        state.cancelled = true;
      },
    });
    return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } });
  };
  return {
    state,
    pool: new WorkerPool(['http://w1.gpu.test'], { secret: 'test-secret-0123456789abcdefghijklmnop', tenant: 'acme' }, fetcher),
  };
}

const spec = {
  model: { name: 'tiny-core', version: '0.1.0' },
  prompt: [1, 2, 3],
  options: { steps: 4, maxTokens: 20 },
  tenantId: 'acme',
} as unknown as GenerationSpec;

describe('runFused', () => {
  it("cancels the worker's stream when its reader stops early (a stop sequence), and not when it reads to the end", async () => {
    const early = streamingWorker(10);
    for await (const e of runFused(early.pool, spec)) if (e.type === 'block' && e.block === 1) break;
    await new Promise((r) => setTimeout(r, 10));
    expect(early.state.cancelled).toBe(true);
    expect(early.state.sent).toBeLessThan(10);

    const whole = streamingWorker(3);
    const events = [];
    for await (const e of runFused(whole.pool, spec)) events.push(e.type);
    expect(events).toEqual(['block', 'block', 'block', 'done']);
    expect(whole.state.cancelled).toBe(false);
  });
});
