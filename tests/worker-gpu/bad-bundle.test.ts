import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepRequest } from '../helpers/step-request';
import { CACHE, ROOT } from '../helpers/paths';
import { startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { postJson, startTestWorker, workerFetch } from './helpers/worker';

/**
 * A copy of tiny-core named `broken` whose denoiser.onnx is cut to 100 kB, with the manifest's size
 * and sha256 updated to match: it verifies, but onnxruntime cannot parse the graph.
 */
function brokenBundle(): string {
  const dir = mkdtempSync(join(CACHE, 'broken-bundle-'));
  cpSync(join(ROOT, 'models/tiny-core'), dir, { recursive: true });
  const graph = readFileSync(join(dir, 'denoiser.onnx')).subarray(0, 100_000);
  writeFileSync(join(dir, 'denoiser.onnx'), graph);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.name = 'broken';
  const entry = manifest.files.find((f: { path: string }) => f.path === 'denoiser.onnx');
  entry.bytes = graph.byteLength;
  entry.sha256 = createHash('sha256').update(graph).digest('hex');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

const BROKEN = { name: 'broken', version: '0.1.0' };
const good = () => stepRequest({ context: [1, 2, 3] });
const broken = () => stepRequest({ model: BROKEN, context: [1, 2, 3] });

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
  await s3.upload(brokenBundle(), 'models/broken/0.1.0/');
});
afterAll(async () => s3?.close());

describe('a bundle whose graph onnxruntime cannot open', () => {
  it('is answered 422 invalid_bundle naming the file, for that model only, before and after a good model opened', async () => {
    const w = await startTestWorker(s3, { WORKER_DEFAULT_MODEL: '' });
    try {
      // The first graph this worker opens is the bad one: the provider probe must not blame the providers.
      for (let i = 0; i < 2; i++) {
        const res = await postJson(`${w.url}/v1/step`, broken());
        expect(res.status, JSON.stringify(res.json)).toBe(422);
        expect(res.json.error).toMatchObject({ code: 'invalid_bundle', field: 'model' });
        expect(res.json.error.message).toMatch(/denoiser\.onnx: onnxruntime cannot open it/);
      }
      expect((await postJson(`${w.url}/v1/step`, good())).status).toBe(200);
      expect((await (await fetch(`${w.url}/healthz`)).json()).provider).toBe('cpu');
      // Once the provider is known, the bad graph is still the bundle's fault, not a 500.
      const after = await postJson(`${w.url}/v1/step`, broken());
      expect(after.status).toBe(422);
      expect(after.json.error.message).toMatch(/denoiser\.onnx/);
      const info = await workerFetch(`${w.url}/v1/models/broken/0.1.0`);
      expect(info.status).toBe(422);
    } finally {
      await w.close();
    }
  });

  it('as the default model: /readyz stays 503, /healthz says why, and every other model is served', async () => {
    const w = await startTestWorker(s3, { WORKER_DEFAULT_MODEL: 'broken@0.1.0' });
    try {
      expect((await fetch(`${w.url}/readyz`)).status).toBe(503);
      const health = await (await fetch(`${w.url}/healthz`)).json();
      expect(health.defaultModel).toMatchObject({ model: 'broken@0.1.0', loaded: false, lastError: { code: 'invalid_bundle' } });
      expect(health.defaultModel.failures).toBeGreaterThanOrEqual(1);
      expect(health.defaultModel.lastError.message).toMatch(/denoiser\.onnx/);
      const res = await postJson(`${w.url}/v1/step`, good());
      expect(res.status, JSON.stringify(res.json)).toBe(200);
    } finally {
      await w.close();
    }
  });
});
