import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { availableProviders, nodeRuntime, parseProviders, sessionOptions } from '../../worker-gpu/src/runtime/providers';
import { loadConfig } from '../../worker-gpu/src/config';

describe('execution providers by configuration', () => {
  it('parses a provider list and refuses unknown names', () => {
    expect(parseProviders('cuda, webgpu,cpu')).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(parseProviders(undefined)).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(() => parseProviders('cuda,tpu')).toThrow(/unknown execution provider "tpu"/);
    expect(() => parseProviders(' , ')).toThrow(/empty provider list/);
  });

  it('falls through to the first provider that opens a session here and says why the others did not', async () => {
    const probe = new Uint8Array(readFileSync(join(inject('tinyBundle'), 'denoiser.onnx')));
    const rt = await nodeRuntime(['cuda', 'webgpu', 'cpu'], probe);
    expect(availableProviders(['cpu'])).toEqual(['cpu']);
    // This machine has no GPU: whatever the build offers, the session must end up somewhere that works.
    expect(['webgpu', 'cpu']).toContain(rt.provider);
    expect(Object.keys(rt.skipped)).toContain('cuda');
    const session = await rt.createSession(probe, 'denoiser.onnx');
    expect(session.inputNames).toContain('simplex_logits');
  });

  it("configures onnxruntime's thread pool: no spinning unless asked, intra-op threads by SSD2_INTRA_OP_THREADS", () => {
    const base = { S3_BUCKET: 'models', WORKER_AUTH_SECRETS: 'x'.repeat(32) };
    expect(loadConfig(base).threads).toEqual({ intraOpThreads: undefined, spinning: false });
    expect(loadConfig({ ...base, SSD2_INTRA_OP_THREADS: '3', SSD2_ORT_SPINNING: 'true' }).threads).toEqual({
      intraOpThreads: 3,
      spinning: true,
    });
    expect(() => loadConfig({ ...base, SSD2_INTRA_OP_THREADS: '-1' })).toThrow(/SSD2_INTRA_OP_THREADS/);
    expect(() => loadConfig({ ...base, SSD2_ORT_SPINNING: 'yes' })).toThrow(/SSD2_ORT_SPINNING/);
    expect(sessionOptions('cpu')).toMatchObject({ extra: { session: { 'intra_op.allow_spinning': '0' } } });
    expect(sessionOptions('cpu').intraOpNumThreads).toBeUndefined();
    expect(sessionOptions('cpu', { intraOpThreads: 2, spinning: true })).toMatchObject({
      intraOpNumThreads: 2,
      extra: { session: { 'intra_op.allow_spinning': '1' } },
    });
  });
});
