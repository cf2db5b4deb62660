/// <reference types="vite/client" />
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import tinyManifest from '../../../models/tiny-core/manifest.json';
import tinyTokenizer from '../../../models/tiny-core/tokenizer.json?raw';
import { api, eventually, newTenant, stubLog, uniqueSeed } from '../../test/helpers';
import { sweepUserModels, VALIDATION_RETRY_AFTER_MS } from './lifecycle';
import { UserModelStore } from './store';

const BASE = 'https://edge.test';

async function sha256(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A bundle in tiny-core's shape: its real tokenizer (so it fits tiny-core) and stand-in graph bytes
 * (the stub worker does not run them).
 */
async function bundle(tag: string): Promise<{ manifest: any; files: Map<string, Uint8Array> }> {
  const files = new Map<string, Uint8Array>([
    ['tokenizer.json', new TextEncoder().encode(tinyTokenizer)],
    ['context_encoder.onnx', new TextEncoder().encode(`encoder ${tag}`)],
    ['denoiser.onnx', new TextEncoder().encode(`denoiser ${tag} `.repeat(1000))],
  ]);
  const manifest = structuredClone(tinyManifest) as any;
  manifest.files = await Promise.all(
    [...files].map(async ([path, bytes]) => ({ path, bytes: bytes.byteLength, sha256: await sha256(bytes) })),
  );
  return { manifest, files };
}

const put = (key: string, id: string, path: string, body: Uint8Array) =>
  SELF.fetch(`${BASE}/v1/user_models/${id}/files/${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
    body,
  });

async function uploadAll(key: string, id: string, files: Map<string, Uint8Array>): Promise<any> {
  let last: any;
  for (const [path, bytes] of files) {
    const res = await put(key, id, path, bytes);
    expect(res.status, await res.clone().text()).toBe(200);
    last = await res.json();
  }
  return last;
}

const getModel = async (key: string, id: string) => (await api(`/v1/user_models/${id}`, key)).json() as Promise<any>;
const untilSettled = (key: string, id: string) =>
  eventually(async () => {
    const m = await getModel(key, id);
    return m.status === 'ready' || m.status === 'failed' ? m : undefined;
  }, 20_000);

function complete(key: string, userModel: string, seed: number) {
  return api('/v1/completions', key, {
    model: 'tiny-core',
    prompt: 'The cat',
    max_tokens: 8,
    steps: 3,
    seed,
    user_model: userModel,
    lambda: 0.5,
  });
}

describe('user models: upload, validate, use, delete (edge routes in workerd, stand-in workers)', () => {
  it('creates a version from the manifest, takes its files, validates it on a worker and serves it by name in a completion', async () => {
    const { key, tenantId } = await newTenant();
    const b = await bundle('one');
    const created = await api('/v1/user_models', key, { name: 'legal', manifest: b.manifest });
    expect(created.status).toBe(201);
    const version = (await created.json()) as any;
    expect(version).toMatchObject({
      id: 'legal@1',
      object: 'user_model',
      name: 'legal',
      version: 1,
      status: 'uploading',
      compatible_models: ['tiny-core'],
      error: null,
    });
    expect(version.files.map((f: any) => [f.path, f.uploaded])).toEqual([
      ['context_encoder.onnx', false],
      ['denoiser.onnx', false],
      ['tokenizer.json', false],
    ]);

    // Not usable before it is ready.
    const early = await complete(key, 'legal', uniqueSeed());
    expect(early.status).toBe(409);
    expect(((await early.json()) as any).error).toMatchObject({ code: 'user_model_not_ready', param: 'user_model' });

    const last = await uploadAll(key, 'legal@1', b.files);
    expect(['validating', 'ready']).toContain(last.status);
    const ready = await untilSettled(key, 'legal@1');
    expect(ready.status).toBe('ready');
    expect(ready.files.every((f: any) => f.uploaded)).toBe(true);

    const seed = uniqueSeed();
    const res = await complete(key, 'legal', seed);
    expect(res.status, await res.clone().text()).toBe(200);
    const generate = (await stubLog(seed)).find((r) => r.path === '/v1/generate')!;
    expect(generate.tenant).toBe(tenantId);
    expect(generate.body.user).toMatchObject({ tenant: tenantId, bundle: 'user-models/legal/1' });
    const usage = await env.DB.prepare('SELECT user_model, collaboration FROM usage WHERE tenant_id = ? AND status = ?')
      .bind(tenantId, 'ok')
      .first();
    expect(usage).toEqual({ user_model: 'legal@1', collaboration: 'user_model' });

    // The chat route and batch lines resolve it the same way.
    const chatSeed = uniqueSeed();
    const chat = await api('/v1/chat/completions', key, {
      model: 'tiny-core',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 4,
      steps: 3,
      seed: chatSeed,
      user_model: 'legal@1',
    });
    expect(chat.status, await chat.clone().text()).toBe(200);
    expect((await stubLog(chatSeed)).find((r) => r.path === '/v1/generate')!.body.user.bundle).toBe('user-models/legal/1');
    const batchSeed = uniqueSeed();
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append(
      'file',
      new File(
        [
          JSON.stringify({
            custom_id: 'a',
            method: 'POST',
            url: '/v1/completions',
            body: { model: 'tiny-core', prompt: 'x', max_tokens: 4, steps: 3, seed: batchSeed, user_model: 'legal' },
          }),
        ],
        'in.jsonl',
      ),
    );
    const file = (await (
      await SELF.fetch(`${BASE}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form })
    ).json()) as any;
    const batch = (await (
      await api('/v1/batches', key, { input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h' })
    ).json()) as any;
    const finished = await eventually(async () => {
      const b = (await (await api(`/v1/batches/${batch.id}`, key)).json()) as any;
      return b.status === 'completed' ? b : undefined;
    }, 30_000);
    expect(finished.request_counts).toMatchObject({ completed: 1, failed: 0 });
    expect((await stubLog(batchSeed)).find((r) => r.path === '/v1/generate')!.body.user.bundle).toBe('user-models/legal/1');

    // A second upload is a new version; the name follows the newest ready one.
    const second = (await (await api('/v1/user_models', key, { name: 'legal', manifest: (await bundle('two')).manifest })).json()) as any;
    expect(second).toMatchObject({ id: 'legal@2', status: 'uploading' });
    const list = (await (await api('/v1/user_models', key)).json()) as any;
    expect(list.data.map((m: any) => m.id).sort()).toEqual(['legal@1', 'legal@2']);
    const seed2 = uniqueSeed();
    expect((await complete(key, 'legal', seed2)).status).toBe(200);
    expect((await stubLog(seed2)).find((r) => r.path === '/v1/generate')!.body.user.bundle).toBe('user-models/legal/1');
  });

  it("refuses bytes that are not the manifest's, files it does not list, and uploads to a closed version, naming the file", async () => {
    const { key } = await newTenant();
    const b = await bundle('x');
    await api('/v1/user_models', key, { name: 'm', manifest: b.manifest });
    const wrong = await put(key, 'm@1', 'denoiser.onnx', new TextEncoder().encode('not the denoiser'));
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as any).error).toMatchObject({ code: 'file_mismatch', param: 'denoiser.onnx' });
    const corrupted = Uint8Array.from(b.files.get('tokenizer.json')!);
    corrupted[10] ^= 1;
    const bad = await put(key, 'm@1', 'tokenizer.json', corrupted);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error).toMatchObject({ code: 'file_mismatch', param: 'tokenizer.json' });
    expect((await put(key, 'm@1', 'weights.bin', new Uint8Array(4))).status).toBe(404);
    expect((await put(key, 'm', 'tokenizer.json', b.files.get('tokenizer.json')!)).status).toBe(400);
    expect((await getModel(key, 'm@1')).files.every((f: any) => !f.uploaded)).toBe(true);
    await uploadAll(key, 'm@1', b.files);
    await untilSettled(key, 'm@1');
    const closed = await put(key, 'm@1', 'tokenizer.json', b.files.get('tokenizer.json')!);
    expect(closed.status).toBe(409);
    expect(((await closed.json()) as any).error.code).toBe('upload_closed');
  });

  it(
    'checks the manifest before any byte is stored: schema, vocabulary against the served cores, file size, the tenant ' + 'quota',
    async () => {
      const { key } = await newTenant({ policy: { max_user_model_bytes: 5_000 } });
      const b = await bundle('q');
      const cases: [any, string, string][] = [
        [{ ...b.manifest, simplex_k: -1 }, 'manifest.simplex_k', 'invalid_manifest'],
        [{ ...b.manifest, vocab_size: 600 }, 'manifest.vocab_size', 'incompatible_models'],
        [
          { ...b.manifest, files: [...b.manifest.files, { path: '../escape', bytes: 1, sha256: 'a'.repeat(64) }] },
          'manifest.files.3.path',
          'invalid_manifest',
        ],
        [
          { ...b.manifest, files: b.manifest.files.map((f: any) => (f.path === 'denoiser.onnx' ? { ...f, bytes: 10 ** 10 } : f)) },
          'manifest.files',
          'file_too_large',
        ],
        [b.manifest, 'manifest.files', 'storage_quota_exceeded'],
      ];
      for (const [manifest, param, code] of cases) {
        const res = await api('/v1/user_models', key, { name: 'q', manifest });
        expect(res.status, code).toBe(400);
        expect(((await res.json()) as any).error, code).toMatchObject({ param, code });
      }
      const badName = await api('/v1/user_models', key, { name: 'a/b', manifest: b.manifest });
      expect(((await badName.json()) as any).error.param).toBe('name');
      expect(((await (await api('/v1/user_models', key)).json()) as any).data).toEqual([]);
    },
  );

  it('keeps tenants apart and makes a deleted version fail the next request with a clear 404', async () => {
    const a = await newTenant();
    const other = await newTenant();
    const b = await bundle('iso');
    await api('/v1/user_models', a.key, { name: 'secret', manifest: b.manifest });
    await uploadAll(a.key, 'secret@1', b.files);
    expect((await untilSettled(a.key, 'secret@1')).status).toBe('ready');

    expect((await api('/v1/user_models/secret@1', other.key)).status).toBe(404);
    expect(((await (await api('/v1/user_models', other.key)).json()) as any).data).toEqual([]);
    expect((await api('/v1/user_models/secret@1', other.key, undefined, { method: 'DELETE' })).status).toBe(404);
    const foreignPut = await put(other.key, 'secret@1', 'tokenizer.json', b.files.get('tokenizer.json')!);
    expect(foreignPut.status, await foreignPut.text()).toBe(404);
    const theirs = await complete(other.key, 'secret@1', uniqueSeed());
    expect(theirs.status, await theirs.clone().text()).toBe(404);
    expect(((await theirs.json()) as any).error).toMatchObject({ code: 'user_model_not_found', param: 'user_model' });

    const del = await api('/v1/user_models/secret@1', a.key, undefined, { method: 'DELETE' });
    expect(await del.json()).toEqual({ id: 'secret@1', object: 'user_model', deleted: true, versions: [1] });
    for (const id of ['secret', 'secret@1']) {
      const after = await complete(a.key, id, uniqueSeed());
      expect(after.status, await after.clone().text()).toBe(404);
      expect(((await after.json()) as any).error.message).toMatch(/secret@1 was deleted|was deleted/);
    }
    expect((await api('/v1/user_models/secret@1', a.key)).status).toBe(404);
    // Its files leave the bucket; the version number is not reused.
    await eventually(
      async () =>
        ((await (await fetch(`http://stub.control/uploaded?prefix=${a.tenantId}/secret/`)).json()) as string[]).length === 0 || undefined,
      10_000,
    );
    const again = (await (await api('/v1/user_models', a.key, { name: 'secret', manifest: b.manifest })).json()) as any;
    expect(again.id).toBe('secret@2');
  });

  it('keeps a failed validation message without the file it names in front (error.param holds it)', async () => {
    const { key, tenantId } = await newTenant();
    const created = (await (
      await api('/v1/user_models', key, { name: 'broken', manifest: (await bundle('broken')).manifest })
    ).json()) as any;
    await new UserModelStore(env.DB).markFailed(tenantId, 'broken', 1, {
      code: 'invalid_bundle',
      param: 'denoiser.onnx',
      message: 'denoiser.onnx: onnxruntime cannot load the graph',
    });
    const got = (await (await api(`/v1/user_models/${created.id}`, key)).json()) as any;
    expect(got.error).toEqual({ code: 'invalid_bundle', param: 'denoiser.onnx', message: 'onnxruntime cannot load the graph' });
  });

  it('a validation no worker answered stays validating and the sweep finishes it', async () => {
    const { key, tenantId } = await newTenant();
    const b = await bundle('sweep');
    await api('/v1/user_models', key, { name: 'later', manifest: b.manifest });
    await fetch('http://stub.control/validation-down?on=1', { method: 'POST' });
    try {
      await uploadAll(key, 'later@1', b.files);
      await eventually(
        async () =>
          (await env.DB.prepare('SELECT validation_attempts AS n FROM user_models WHERE tenant_id = ?')
            .bind(tenantId)
            .first<{ n: number }>())!.n >= 1 || undefined,
        10_000,
      );
      expect((await getModel(key, 'later@1')).status).toBe('validating');
    } finally {
      await fetch('http://stub.control/validation-down?on=0', { method: 'POST' });
    }
    expect(await sweepUserModels(env, Date.now() + VALIDATION_RETRY_AFTER_MS + 1000)).toBeGreaterThanOrEqual(1);
    expect((await getModel(key, 'later@1')).status).toBe('ready');
  });
});
