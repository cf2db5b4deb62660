import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { availableProviders, nodeRuntime, parseProviders } from '../../worker-gpu/src/runtime/providers';

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
});
