/**
 * A generation thread: runs the block loop of fused generations with their models seen through
 * proxies. The step itself (one item of a dynamic batch, its noisy simplex drawn by a graph) runs
 * on the main thread, which owns the onnxruntime sessions.
 */
import { parentPort } from 'node:worker_threads';
import { blockLogits, generate, type BlockLogits, type DenoiseStep, type Denoiser, type DenoiserInfo } from '../../../../shared/ssd2';
import { fusedModels } from '../../../../shared/protocol';
import type { FromThread, ToThread } from './messages';
import { MainThreadError, errorToWire } from './wire-error';

const port = parentPort!;
const post = (m: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const waiting = new Map<number, { gen: number; resolve: (data: Float32Array) => void; reject: (err: unknown) => void }>();
const cancelled = new Set<number>();
let nextCall = 0;

function proxy(info: DenoiserInfo, gen: number, model: 'core' | 'user'): Denoiser {
  const step = (s: DenoiseStep): Promise<BlockLogits> => {
    if (cancelled.has(gen)) return Promise.reject(new Error('generation cancelled'));
    // The loop may still read its previous logits; the main thread gets a copy.
    const selfCond = s.selfCond ? s.selfCond.data.slice() : null;
    const call = nextCall++;
    post(
      { type: 'step', gen, call, model, context: [...s.context], noise: s.noise, selfCond },
      selfCond ? [selfCond.buffer as ArrayBuffer] : [],
    );
    return new Promise<Float32Array>((resolve, reject) => waiting.set(call, { gen, resolve, reject })).then((data) =>
      blockLogits(data, s.noise.blockLength, info.vocabSize),
    );
  };
  return { info, denoise: (steps) => Promise.all(steps.map(step)) };
}

async function run(m: Extract<ToThread, { type: 'start' }>): Promise<void> {
  const user = m.user ? proxy(m.user, m.gen, 'user') : undefined;
  const models = fusedModels(proxy(m.core, m.gen, 'core'), user, m.topK, m.request.lambda);
  try {
    for await (const event of generate(models, m.request)) {
      if (cancelled.has(m.gen)) break;
      post({ type: 'event', gen: m.gen, event });
    }
    post({ type: 'end', gen: m.gen });
  } catch (err) {
    post({ type: 'failed', gen: m.gen, error: errorToWire(err) });
  } finally {
    cancelled.delete(m.gen);
  }
}

port.on('message', (m: ToThread) => {
  if (m.type === 'start') void run(m);
  else if (m.type === 'cancel') {
    // The main thread drops this generation's steps from now on: end the ones it waits for.
    cancelled.add(m.gen);
    for (const [call, w] of waiting) {
      if (w.gen !== m.gen) continue;
      waiting.delete(call);
      w.reject(new Error('generation cancelled'));
    }
  } else {
    const w = waiting.get(m.call);
    waiting.delete(m.call);
    if (m.type === 'logits') w?.resolve(m.data);
    else w?.reject(new MainThreadError(m.error, m.message));
  }
});
