import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths';
import { stepRequest } from '../helpers/step-request';
import { startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { metric, postJson, startTestWorker, workerEnv, workerFetch } from './helpers/worker';

const TINY = join(ROOT, 'models/tiny-core');
const step = (model: { name: string; version: string }) => stepRequest({ model, context: [1, 2] });
const metrics = async (url: string) => (await workerFetch(`${url}/metrics`)).text();

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
});
afterAll(async () => s3?.close());

describe('model store: S3, verified, disk + memory cache', () => {
  it('loads a bundle once however many requests arrive together, and from disk on a fresh worker', async () => {
    const env = workerEnv(s3, { WORKER_DEFAULT_MODEL: '' });
    const w = await startTestWorker(s3, { WORKER_DEFAULT_MODEL: '', WORKER_CACHE_DIR: env.WORKER_CACHE_DIR });
    expect(w.worker.models.store.loaded()).toEqual([]);
    try {
      expect((await fetch(`${w.url}/readyz`)).status).toBe(200); // no default model configured
      const replies = await Promise.all(
        Array.from({ length: 12 }, () => postJson(`${w.url}/v1/step`, step({ name: 'tiny-core', version: '0.1.0' }))),
      );
      expect(replies.map((r) => r.status)).toEqual(Array(12).fill(200));
      const text = await metrics(w.url);
      expect(metric(text, 'ssd2_worker_model_loads_total{source="s3"}')).toBe(1);
      expect(metric(text, 'ssd2_worker_s3_reads_total')).toBe(4); // manifest + 3 files
    } finally {
      await w.close();
    }
    // Same disk cache, new process state: only the manifest comes from S3 (to check the copy is current).
    const w2 = await startTestWorker(s3, { WORKER_CACHE_DIR: env.WORKER_CACHE_DIR });
    try {
      const text = await metrics(w2.url);
      expect(metric(text, 'ssd2_worker_model_loads_total{source="disk"}')).toBe(1);
      expect(metric(text, 'ssd2_worker_s3_reads_total')).toBe(1);
    } finally {
      await w2.close();
    }
    // A damaged disk copy is dropped and the bundle fetched from S3 again.
    writeFileSync(join(env.WORKER_CACHE_DIR, 'models/tiny-core/0.1.0/denoiser.onnx'), 'garbage');
    const w3 = await startTestWorker(s3, { WORKER_CACHE_DIR: env.WORKER_CACHE_DIR });
    try {
      expect(metric(await metrics(w3.url), 'ssd2_worker_model_loads_total{source="s3"}')).toBe(1);
    } finally {
      await w3.close();
    }
  });

  it('releases the onnxruntime sessions of a model the memory budget evicts, and loads it again when asked', async () => {
    await s3.upload(TINY, 'models/tiny-core/0.2.0/');
    // A budget below two bundles: opening the second evicts the first.
    const w = await startTestWorker(s3, {
      WORKER_DEFAULT_MODEL: '',
      WORKER_MODEL_MEMORY_BYTES: String(Math.ceil(1.5 * readFileSync(join(TINY, 'denoiser.onnx')).byteLength)),
    });
    try {
      expect((await postJson(`${w.url}/v1/step`, step({ name: 'tiny-core', version: '0.1.0' }))).status).toBe(200);
      const first = w.worker.models.store.open()[0];
      expect((await postJson(`${w.url}/v1/step`, step({ name: 'tiny-core', version: '0.2.0' }))).status).toBe(200);
      expect(w.worker.models.store.loaded()).toEqual(['models/tiny-core/0.2.0/']);
      await first.batcher.idle();
      await new Promise((r) => setTimeout(r, 20));
      expect(first.denoiser.released).toBe(true);
      expect((await postJson(`${w.url}/v1/step`, step({ name: 'tiny-core', version: '0.1.0' }))).status).toBe(200);
    } finally {
      await w.close();
    }
  });

  it('refuses a bundle whose file does not match the manifest sha256 (422), caches nothing, and takes the fixed upload', async () => {
    const good = readFileSync(join(TINY, 'denoiser.onnx'));
    const bad = Buffer.from(good);
    bad[bad.length - 100] ^= 0xff; // same size, different bytes
    await s3.upload(TINY, 'models/broken/1/');
    await s3.put('models/broken/1/denoiser.onnx', bad);
    const w = await startTestWorker(s3);
    try {
      const res = await postJson(`${w.url}/v1/step`, step({ name: 'broken', version: '1' }));
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: 'invalid_bundle', field: 'model' });
      expect(res.json.error.message).toMatch(/denoiser\.onnx: sha256 [0-9a-f]+ does not match/);
      expect(w.worker.models.store.has('models/broken/1/')).toBe(false);
      expect(() => readFileSync(join(w.worker.models.store.diskDir('models/broken/1/'), 'manifest.json'))).toThrow(/ENOENT/);
      // Asking again re-reads S3 (the failure is not cached either): still refused...
      expect((await postJson(`${w.url}/v1/step`, step({ name: 'broken', version: '1' }))).status).toBe(422);
      // ...until the upload is fixed.
      await s3.put('models/broken/1/denoiser.onnx', good);
      expect((await postJson(`${w.url}/v1/step`, step({ name: 'broken', version: '1' }))).status).toBe(200);
    } finally {
      await w.close();
    }
  });

  it('refuses to start with a bad configuration, naming the variable', async () => {
    const { loadConfig } = await import('../../worker-gpu/src/config');
    expect(() => loadConfig({ ...workerEnv(s3), WORKER_BATCH_WINDOW_MS: 'soon' })).toThrow(/WORKER_BATCH_WINDOW_MS/);
    expect(() => loadConfig({ ...workerEnv(s3), S3_BUCKET: undefined })).toThrow(/S3_BUCKET/);
    expect(() => loadConfig({ ...workerEnv(s3), SSD2_PROVIDERS: 'tpu' })).toThrow(/SSD2_PROVIDERS.*unknown execution provider/);
    expect(() => loadConfig({ ...workerEnv(s3), WORKER_DEFAULT_MODEL: 'tiny-core' })).toThrow(/WORKER_DEFAULT_MODEL: must be name@version/);
  });
});
