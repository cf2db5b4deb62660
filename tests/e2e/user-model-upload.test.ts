/**
 * End to end, for real: a tenant uploads a user model through the edge (`wrangler dev`) with the
 * CLI and the Node SDK; its files stream through a GPU worker into s3rver; the worker validates it
 * with real onnxruntime steps; completions that name it run it on the worker, mixed with the core.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadUserModel } from '../../client/sdk';
import { BUCKET } from '../../tools/stack';
import { copyBundle, editManifest, replaceFile } from '../helpers/bundle-copy';
import { ROOT } from '../helpers/paths';
import { startEdgeStack, type EdgeStack } from './helpers/stack';

const USER = join(ROOT, 'models/user');
const GEN = {
  model: 'core',
  prompt: 'The river',
  max_tokens: 6,
  seed: 31337,
  steps: 4,
  lambda: 0.8,
  private_context: 'A river is a stream of water.',
};

let stack: EdgeStack | undefined;
let key: string;
const starting = startEdgeStack({ model: 'models/core' });
starting.catch(() => {});

beforeAll(async () => {
  stack = await starting;
  key = await stack.newKey('uploader');
}, 420_000);

afterAll(async () => {
  await (stack ?? (await starting.catch(() => undefined)))?.stop();
}, 60_000);

const api = async (path: string, apiKey: string, init: { method?: string; body?: unknown } = {}) => {
  const res = await fetch(`${stack!.edgeUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, json: (await res.json()) as any };
};

const complete = (apiKey: string, userModel: string) => api('/v1/completions', apiKey, { body: { ...GEN, user_model: userModel } });

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await stack!.s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort();
}

const upload = (dir: string, name: string) =>
  uploadUserModel({ baseUrl: stack!.edgeUrl, apiKey: key, dir, name, pollMs: 200, timeoutMs: 120_000 });

describe('user-model uploads end to end (wrangler dev + GPU worker + s3rver)', () => {
  it(
    'uploads the bundled user model with the CLI; a completion naming it mixes it in, token for token as the same bundle placed by an ' +
      'operator',
    async () => {
      const { stdout, stderr } = await promisify(execFile)(
        join(ROOT, 'node_modules/.bin/tsx'),
        ['client/cli/edge-client.ts', 'upload-user-model', 'models/user', '--name', 'legal', '--base-url', stack!.edgeUrl],
        {
          cwd: ROOT,
          env: { ...process.env, SSD2_API_KEY: key },
          timeout: 180_000,
        },
      );
      expect(stdout.trim()).toBe('legal@1');
      expect(stderr).toMatch(/denoiser\.onnx: 1\.3 MB \/ 1\.3 MB \(100%\)/);
      expect(stderr).toMatch(/legal@1 is ready; use it as "user_model": "legal" with core/);
      expect(await keysUnder('tenants/uploader/user-models/legal/1/')).toEqual([
        'context_encoder.onnx',
        'denoiser.onnx',
        'manifest.json',
        'tokenizer.json',
      ]);

      await stack!.s3.upload(USER, 'tenants/uploader/placed-by-operator/');
      const uploaded = await complete(key, 'legal');
      const placed = await complete(key, 'placed-by-operator');
      const coreOnly = await api('/v1/completions', key, {
        body: { model: GEN.model, prompt: GEN.prompt, max_tokens: GEN.max_tokens, seed: GEN.seed, steps: GEN.steps },
      });
      expect(uploaded.status, JSON.stringify(uploaded.json)).toBe(200);
      expect(placed.status, JSON.stringify(placed.json)).toBe(200);
      expect(uploaded.json.choices[0].text).toBe(placed.json.choices[0].text);
      expect(uploaded.json.choices[0].text).not.toBe(coreOnly.json.choices[0].text);
      const sent = stack!.proxy.log.filter((r) => r.path === '/v1/generate').map((r) => JSON.parse(r.requestBody));
      expect(sent.some((b) => b.user?.bundle === 'user-models/legal/1' && b.user?.tenant === 'uploader')).toBe(true);
    },
  );

  it('ends a bad upload failed or 4xx with a reason naming the file or field, and never serves it', async () => {
    // A graph onnxruntime cannot read (its sha256 is the manifest's: only loading it finds the fault).
    const corrupted = copyBundle(USER);
    replaceFile(corrupted, 'denoiser.onnx', readFileSync(join(USER, 'denoiser.onnx')).subarray(0, 5000));
    const bad = await upload(corrupted, 'corrupted');
    expect(bad.status).toBe('failed');
    expect(bad.error).toMatchObject({ code: 'invalid_bundle', param: 'denoiser.onnx' });
    expect(bad.error!.message).toMatch(/onnxruntime cannot load the graph/);
    expect(await keysUnder('tenants/uploader/user-models/corrupted/')).toEqual([]);
    const refused = await complete(key, 'corrupted');
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: 'user_model_failed', param: 'user_model' });

    // A graph with the wrong inputs.
    const swapped = copyBundle(USER);
    replaceFile(swapped, 'denoiser.onnx', readFileSync(join(USER, 'context_encoder.onnx')));
    const wrongInputs = await upload(swapped, 'wrong-inputs');
    expect(wrongInputs).toMatchObject({ status: 'failed', error: { param: 'denoiser.onnx' } });
    expect(wrongInputs.error!.message).toMatch(/missing inputs simplex_logits/);

    // Bytes that are not what the manifest's sha256 says.
    const created = await api('/v1/user_models', key, {
      body: { name: 'wrong-sha', manifest: JSON.parse(readFileSync(join(USER, 'manifest.json'), 'utf8')) },
    });
    expect(created.status).toBe(201);
    const tokenizer = readFileSync(join(USER, 'tokenizer.json'));
    tokenizer[20] ^= 1;
    const put = await fetch(`${stack!.edgeUrl}/v1/user_models/wrong-sha@1/files/tokenizer.json`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}` },
      body: tokenizer,
    });
    expect(put.status).toBe(400);
    expect(((await put.json()) as any).error).toMatchObject({ code: 'file_mismatch', param: 'tokenizer.json' });
    expect(await keysUnder('tenants/uploader/user-models/wrong-sha/1/')).toEqual([]);

    // A vocabulary no served core has.
    const otherVocab = copyBundle(USER);
    editManifest(otherVocab, (m) => (m.vocab_size = 5000));
    await expect(upload(otherVocab, 'other-vocab')).rejects.toMatchObject({
      status: 400,
      code: 'incompatible_models',
      param: 'manifest.vocab_size',
    });

    // Over the tenant's quota.
    const small = await stack!.newKey('small-quota');
    const policy = await fetch(`${stack!.edgeUrl}/admin/tenants/small-quota/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${stack!.adminSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ max_user_model_bytes: 1_000_000 }),
    });
    expect(policy.status).toBe(200);
    await expect(uploadUserModel({ baseUrl: stack!.edgeUrl, apiKey: small, dir: USER, name: 'legal' })).rejects.toMatchObject({
      status: 400,
      code: 'storage_quota_exceeded',
    });
  });

  it('another tenant gets 404 for it; deleting it makes the next request that names it fail with a clear 404', async () => {
    const other = await stack!.newKey('someone-else');
    expect((await api('/v1/user_models/legal@1', other)).status).toBe(404);
    const theirs = await complete(other, 'legal@1');
    expect(theirs.status).toBe(404);
    const byName = await complete(other, 'legal');
    expect(byName.status).toBe(404);
    expect(byName.json.error.param).toBe('user_model');

    const del = await api('/v1/user_models/legal', key, { method: 'DELETE' });
    expect(del.json).toMatchObject({ deleted: true, versions: [1] });
    const after = await complete(key, 'legal');
    expect(after.status).toBe(404);
    expect(after.json.error).toMatchObject({ code: 'user_model_not_found', param: 'user_model' });
    expect(after.json.error.message).toMatch(/user model legal was deleted \(every version, the newest legal@1\)/);
    for (let i = 0; i < 50 && (await keysUnder('tenants/uploader/user-models/legal/1/')).length > 0; i++)
      await new Promise((r) => setTimeout(r, 200));
    expect(await keysUnder('tenants/uploader/user-models/legal/1/')).toEqual([]);
  });
});
