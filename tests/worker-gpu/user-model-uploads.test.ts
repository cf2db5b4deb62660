import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPLOAD_BYTES_HEADER, UPLOAD_SHA256_HEADER, type ValidateUserModelReply } from '../../shared/protocol';
import type { RunningWorker } from '../../worker-gpu/src/server';
import { copyBundle, editManifest, replaceFile } from '../helpers/bundle-copy';
import { ROOT } from '../helpers/paths';
import { BUCKET, startS3WithTinyCore, type TestS3 } from './helpers/s3';
import { signedFetch, startTestWorker } from './helpers/worker';

const TINY = join(ROOT, 'models/tiny-core');
const CORE = { name: 'tiny-core', version: '0.1.0' };

let s3: TestS3;
let w: RunningWorker;
beforeAll(async () => {
  s3 = await startS3WithTinyCore();
  w = await startTestWorker(s3);
});
afterAll(async () => {
  await w?.close();
  await s3?.close();
});

const manifestOf = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: { path: string; bytes: number; sha256: string }[] };

async function putFile(
  tenant: string,
  name: string,
  version: number,
  path: string,
  body: Uint8Array,
  expected: { bytes: number; sha256: string },
) {
  const res = await signedFetch(tenant)(`${w.url}/v1/user-models/${name}/${version}/files/${path}`, {
    method: 'PUT',
    headers: { [UPLOAD_BYTES_HEADER]: String(expected.bytes), [UPLOAD_SHA256_HEADER]: expected.sha256 },
    body: new Blob([body as Uint8Array<ArrayBuffer>]),
  });
  return { status: res.status, json: (await res.json()) as any };
}

/** Uploads every file of a bundle directory as the edge does, then asks the worker to validate it. */
async function upload(tenant: string, name: string, version: number, dir: string): Promise<ValidateUserModelReply> {
  const manifest = manifestOf(dir);
  for (const f of manifest.files) {
    const put = await putFile(tenant, name, version, f.path, readFileSync(join(dir, f.path)), f);
    expect(put.status, JSON.stringify(put.json)).toBe(200);
  }
  const res = await signedFetch(tenant)(`${w.url}/v1/user-models/${name}/${version}/validate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ manifest: readFileSync(join(dir, 'manifest.json'), 'utf8'), cores: [CORE] }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ValidateUserModelReply;
}

async function keys(prefix: string): Promise<string[]> {
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort();
}

describe('user-model uploads on the worker', () => {
  it('streams the files under the tenant prefix, validates the bundle with real steps, and serves it by its version path', async () => {
    const reply = await upload('acme', 'legal', 1, TINY);
    expect(reply).toMatchObject({ status: 'ready' });
    expect(await keys('tenants/acme/user-models/legal/1/')).toEqual([
      'context_encoder.onnx',
      'denoiser.onnx',
      'manifest.json',
      'tokenizer.json',
    ]);
    const gen = await signedFetch('acme')(`${w.url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        v: 1,
        model: CORE,
        prompt: [5, 6, 7],
        options: { steps: 2, maxTokens: 4, seed: 1 },
        user: { tenant: 'acme', bundle: 'user-models/legal/1' },
      }),
    });
    expect(gen.status).toBe(200);
    expect(await gen.text()).toMatch(/"type":"done"/);
  });

  it("refuses a file whose bytes are not the manifest's: wrong sha256, too long, too short; nothing stays stored", async () => {
    const f = manifestOf(TINY).files.find((x) => x.path === 'tokenizer.json')!;
    const bytes = readFileSync(join(TINY, f.path));
    const corrupted = Uint8Array.from(bytes);
    corrupted[100] ^= 1;
    const cases: [Uint8Array, RegExp][] = [
      [corrupted, /tokenizer\.json has sha256 [0-9a-f]{64}; the manifest says/],
      [Buffer.concat([bytes, Buffer.from('x')]), /longer than the manifest's/],
      [bytes.subarray(0, 10), /tokenizer\.json has 10 bytes; the manifest says/],
    ];
    for (const [body, message] of cases) {
      const put = await putFile('acme', 'broken', 1, f.path, body, f);
      expect(put.status).toBe(422);
      expect(put.json.error).toMatchObject({ code: 'file_mismatch', field: 'tokenizer.json' });
      expect(put.json.error.message).toMatch(message);
    }
    expect(await keys('tenants/acme/user-models/broken/1/')).toEqual([]);
  });

  it('fails a bundle whose graph has the wrong inputs, naming the file, and deletes what was uploaded', async () => {
    const dir = copyBundle(TINY);
    replaceFile(dir, 'denoiser.onnx', readFileSync(join(TINY, 'context_encoder.onnx')));
    const reply = await upload('acme', 'wrong-graph', 1, dir);
    expect(reply.status).toBe('failed');
    if (reply.status !== 'failed') return;
    expect(reply.error).toMatchObject({ code: 'invalid_bundle', param: 'denoiser.onnx' });
    expect(reply.error.message).toMatch(/missing inputs simplex_logits/);
    expect(reply.error.message).not.toMatch(/s3:|tenants\//);
    expect(await keys('tenants/acme/user-models/wrong-graph/1/')).toEqual([]);
  });

  it("fails a bundle whose tokenizer differs from the core's, naming the field", async () => {
    const dir = copyBundle(TINY);
    const tokenizer = JSON.parse(readFileSync(join(TINY, 'tokenizer.json'), 'utf8'));
    tokenizer.added_tokens = [...(tokenizer.added_tokens ?? [])];
    replaceFile(dir, 'tokenizer.json', JSON.stringify(tokenizer, null, 1));
    const reply = await upload('acme', 'other-tokenizer', 1, dir);
    expect(reply).toMatchObject({ status: 'failed', error: { code: 'incompatible_models', param: 'tokenizer' } });
  });

  it('fails a manifest that does not parse, naming the field', async () => {
    const dir = copyBundle(TINY);
    editManifest(dir, (m) => (m.simplex_k = -1));
    const reply = await upload('acme', 'bad-manifest', 1, dir);
    expect(reply).toMatchObject({ status: 'failed', error: { code: 'invalid_bundle', param: 'manifest.json' } });
    if (reply.status === 'failed') expect(reply.error.message).toMatch(/simplex_k/);
  });

  it("keeps tenants apart: another tenant's token addresses its own prefix, so it can neither use nor delete acme's version", async () => {
    await upload('acme', 'private', 1, TINY);
    const gen = await signedFetch('globex')(`${w.url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        v: 1,
        model: CORE,
        prompt: [5],
        options: { steps: 2, maxTokens: 2, seed: 1 },
        user: { tenant: 'acme', bundle: 'user-models/private/1' },
      }),
    });
    expect(gen.status).toBe(403);
    const del = await signedFetch('globex')(`${w.url}/v1/user-models/private/1`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ deleted: 0 });
    expect(await keys('tenants/acme/user-models/private/1/')).toHaveLength(4);
    const own = await signedFetch('acme')(`${w.url}/v1/user-models/private/1`, { method: 'DELETE' });
    expect(await own.json()).toEqual({ deleted: 4 });
    expect(await keys('tenants/acme/user-models/private/1/')).toEqual([]);
  });

  it('answers 400 naming the header or path for a malformed upload', async () => {
    const sha = createHash('sha256').update('x').digest('hex');
    const noHeader = await signedFetch('acme')(`${w.url}/v1/user-models/legal/2/files/tokenizer.json`, { method: 'PUT', body: 'x' });
    expect(noHeader.status).toBe(400);
    expect(((await noHeader.json()) as any).error.message).toMatch(/x-ssd2-bytes/);
    for (const path of ['manifest.json', '..%2Fescape', '.hidden']) {
      const bad = await putFile('acme', 'legal', 2, path, Buffer.from('x'), { bytes: 1, sha256: sha });
      expect(bad.status, path).toBe(400);
    }
  });
});
