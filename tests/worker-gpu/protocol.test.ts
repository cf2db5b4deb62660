import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  compactLogits,
  compactTopIds,
  contextHash,
  decodeFloat32,
  decodeUint,
  densifyLogits,
  encodeFloat32,
  encodeUint,
  roundTripLogits,
  wireView,
  GenerateRequestSchema,
  ProtocolError,
  RemoteDenoiser,
  StepRequestSchema,
  StepResponseSchema,
  type StepResponse,
} from '../../shared/protocol';
import type { DenoiserInfo } from '../../shared/ssd2';
import { blockLogits, logSoftmax } from '../../shared/ssd2';
import { stepRequest } from '../helpers/step-request';

function randomLogits(length: number, vocab: number, seed = 1) {
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return blockLogits(
    Float32Array.from({ length: length * vocab }, () => (rand() - 0.5) * 20),
    length,
    vocab,
  );
}

describe('compact logits', () => {
  it('keeps the top k exactly, largest first, and a floor that preserves the tail probability mass', () => {
    const dense = randomLogits(25, 513);
    const c = compactLogits(dense, 32);
    const back = densifyLogits(c);
    const ids = compactTopIds(c);
    for (let p = 0; p < 25; p++) {
      const row = dense.data.subarray(p * 513, (p + 1) * 513);
      const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
      expect(ids[p]).toEqual(order.slice(0, 32));
      for (const id of ids[p]) expect(back.data[p * 513 + id]).toBe(row[id]);
      const mass = (d: Float32Array) => order.slice(32).reduce((s, id) => s + Math.exp(d[p * 513 + id]), 0);
      expect(mass(back.data) / mass(dense.data)).toBeCloseTo(1, 5);
    }
    // log-softmax of the top ids (what mixing and projection use) stays within float error.
    const a = logSoftmax(dense).data;
    const b = logSoftmax(back).data;
    for (let p = 0; p < 25; p++) for (const id of ids[p]) expect(Math.abs(a[p * 513 + id] - b[p * 513 + id])).toBeLessThan(1e-4);
  });

  it('is idempotent: compacting the densified form gives the same wire object (self-conditioning echoes stay exact)', () => {
    const c = compactLogits(randomLogits(7, 100, 3), 16);
    expect(compactLogits(densifyLogits(c), 16)).toEqual(c);
  });

  it('is lossless when k covers the vocabulary, and uses 4-byte ids past 65536 tokens', () => {
    const dense = randomLogits(3, 40);
    expect(densifyLogits(compactLogits(dense, 64)).data).toEqual(dense.data);
    const big = compactLogits(randomLogits(1, 70_000), 4);
    expect(big.idWidth).toBe(4);
    expect(compactTopIds(big)[0].every((id) => id < 70_000)).toBe(true);
  });

  it("round-trips without base64 exactly as through the wire form (the fused loop's view)", async () => {
    for (const [length, vocab, k] of [
      [25, 513, 32],
      [3, 40, 64],
      [5, 100, 1],
    ]) {
      const dense = randomLogits(length, vocab, length + k);
      dense.data[7] = -Infinity;
      expect(roundTripLogits(dense, k).data).toEqual(densifyLogits(compactLogits(dense, k)).data);
    }
    const inner = { info: {} as DenoiserInfo, denoise: async () => [randomLogits(4, 50, 9)] };
    const [viewed] = await wireView(inner, 8).denoise([]);
    expect(viewed.data).toEqual(densifyLogits(compactLogits(randomLogits(4, 50, 9), 8)).data);
  });

  it('encodes little-endian base64 exactly as Buffer does, and refuses characters outside the alphabet', () => {
    for (let n = 0; n < 12; n++) {
      const f = Float32Array.from({ length: n }, (_, i) => (i - 3.3) * 1e7 * (i % 2 ? -1 : 1));
      const u = Uint32Array.from({ length: n }, (_, i) => (i * 40_503) % 65_536);
      const le = (values: ArrayLike<number>, width: number, write: (b: Buffer, x: number, at: number) => void) => {
        const b = Buffer.alloc(values.length * width);
        Array.from(values).forEach((x, i) => write(b, x, i * width));
        return b.toString('base64');
      };
      expect(encodeFloat32(f)).toBe(le(f, 4, (b, x, at) => b.writeFloatLE(x, at)));
      expect(encodeUint(u, 2)).toBe(le(u, 2, (b, x, at) => b.writeUInt16LE(x, at)));
      expect(encodeUint(u, 4)).toBe(le(u, 4, (b, x, at) => b.writeUInt32LE(x, at)));
      expect(decodeFloat32(encodeFloat32(f), n)).toEqual(f);
      expect(decodeUint(encodeUint(u, 2), n, 2)).toEqual(u);
      expect(decodeUint(encodeUint(u, 4).replace(/=+$/, ''), n, 4)).toEqual(u);
    }
    expect(() => decodeFloat32('AAA*', 0)).toThrow(/not base64/);
    expect(() => decodeFloat32('AAAAA', 1)).toThrow(/not base64/);
    expect(() => decodeFloat32('AAAA', 1)).toThrow(/expected 1 float32/);
    expect(decodeFloat32('AAAAAA==', 1)).toEqual(new Float32Array(1));
  });

  it('refuses wire data that does not add up', () => {
    const c = compactLogits(randomLogits(2, 50), 8);
    expect(() => densifyLogits({ ...c, length: 3 })).toThrow(/expected 24 uint16/);
    // The same id twice in a row: which value a scatter keeps is not defined on every device.
    const twice = compactLogits(
      blockLogits(
        Float32Array.from({ length: 2 * 50 }, (_, i) => i % 50),
        2,
        50,
      ),
      2,
    );
    const ids = decodeUint(twice.ids, 4, 2);
    ids[1] = ids[0];
    expect(() => densifyLogits({ ...twice, ids: encodeUint(ids, 2) })).toThrow(/more than once/);
    expect(() => densifyLogits({ ...c, vocabSize: 5 })).toThrow(/exceeds the vocabulary/);
  });
});

describe('step messages', () => {
  it('fit in 16 KiB per step for B = 25 with k = 32, both directions (tiny-core and GPT-2 vocabularies)', () => {
    for (const vocab of [513, 50_257]) {
      const logits = compactLogits(randomLogits(25, vocab), 32);
      const request = stepRequest({
        estimate: Array.from({ length: 25 }, (_, i) => [i]),
        selfCond: logits,
        context: undefined,
        contextHash: 'a'.repeat(64),
      });
      const response: StepResponse = {
        v: 1,
        model: request.model,
        logits,
        contextHash: 'a'.repeat(64),
        timing: { queueMs: 1.25, runMs: 3.5, totalMs: 6.75, batchSize: 4 },
      };
      const bytes = JSON.stringify(request).length + JSON.stringify(response).length;
      expect(StepRequestSchema.parse(JSON.parse(JSON.stringify(request))).selfCond).toEqual(logits);
      expect(StepResponseSchema.parse(JSON.parse(JSON.stringify(response)))).toEqual(response);
      expect(bytes).toBeLessThan(16 * 1024);
    }
  });

  it('names the field of each schema violation', () => {
    const path = (input: unknown) => StepRequestSchema.safeParse(input).error?.issues[0].path.join('.');
    expect(path(stepRequest({ step: 10 }))).toBe('step');
    expect(path(stepRequest({ estimate: [[1]] }))).toBe('estimate');
    expect(path(stepRequest({ context: undefined }))).toBe('context');
    expect(path(stepRequest({ topK: 0 }))).toBe('topK');
    expect(path(stepRequest({ blockLength: 0 }))).toBe('blockLength');
    expect(path(stepRequest({ seed: -1 }))).toBe('seed');
    expect(path({ ...stepRequest(), v: 2 })).toBe('v');
    expect(path(stepRequest({ model: { name: '../x', version: '1' } }))).toBe('model.name');
    // '..' and '.' match the character class but are path segments that leave the models/ prefix.
    expect(path(stepRequest({ model: { name: '..', version: '1' } }))).toBe('model.name');
    expect(path(stepRequest({ model: { name: 'core', version: '..' } }))).toBe('model.version');
    expect(path(stepRequest({ model: { name: '.', version: '1' } }))).toBe('model.name');
    expect(
      GenerateRequestSchema.safeParse({
        v: 1,
        model: { name: 'a', version: 'b' },
        prompt: [1],
        options: { topP: 2 },
      }).error?.issues[0].path.join('.'),
    ).toBe('options.topP');
  });

  it('hashes a context as sha256 of little-endian uint32 ids', async () => {
    const tokens = [1, 2, 70_000];
    const buf = Buffer.alloc(12);
    tokens.forEach((t, i) => buf.writeUInt32LE(t, i * 4));
    expect(await contextHash(tokens)).toBe(createHash('sha256').update(buf).digest('hex'));
  });
});

describe('RemoteDenoiser replies', () => {
  const info = {
    name: 'stub',
    role: 'core',
    vocabSize: 50,
    blockSize: 4,
    maxContext: 16,
    simplexK: 5,
    schedule: 'cosine',
    tTrain: 100,
    timestepRange: [0, 1],
    selfConditioning: true,
    eosTokenId: 49,
    tokenizerSha256: 'x',
  } as DenoiserInfo;
  const step = { context: [1, 2], noise: { seed: 1, block: 0, step: 0, steps: 4, estimate: null, blockLength: 4 }, selfCond: null };
  /** A RemoteDenoiser whose /v1/step replies come from `reply`. */
  async function remote(reply: () => Response) {
    const fetch = (async (url: string) =>
      String(url).includes('/v1/models/') ? Response.json({ info }) : reply()) as unknown as typeof globalThis.fetch;
    return RemoteDenoiser.connect({ endpoint: 'http://worker', model: { name: 'stub', version: '1' }, fetch });
  }

  it('turns a non-JSON error body into a ProtocolError with the status and the body text', async () => {
    const r = await remote(() => new Response('<html>502 Bad Gateway</html>', { status: 502 }));
    const err = await r.denoise([step]).catch((e) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('http_error');
    expect(err.message).toContain('502 Bad Gateway');
  });

  it("keeps the worker's JSON error, and names a 200 reply that is not a step response", async () => {
    const r = await remote(() => Response.json({ error: { code: 'invalid_argument', message: 'bad', field: 'seed' } }, { status: 400 }));
    expect(await r.denoise([step]).catch((e) => e)).toMatchObject({ status: 400, code: 'invalid_argument', field: 'seed' });
    const truncated = await remote(() => new Response('{"v":1,"logits":', { status: 200 }));
    expect(await truncated.denoise([step]).catch((e) => e)).toMatchObject({ status: 502, code: 'invalid_reply' });
  });

  it('counts body bytes, not characters', async () => {
    const logits = compactLogits(randomLogits(4, 50), 8);
    const body = JSON.stringify({
      v: 1,
      model: { name: 'stub', version: '1' },
      logits,
      contextHash: 'a'.repeat(64),
      timing: { queueMs: 0, runMs: 0, totalMs: 0, batchSize: 1 },
      note: 'é✓',
    });
    const r = await remote(() => new Response(body, { status: 200 }));
    await r.denoise([{ ...step, context: [1, 2] }]);
    expect(r.bytesReceived).toBe(Buffer.byteLength(body));
    expect(r.bytesReceived).toBeGreaterThan(body.length);
    expect(r.bytesSent).toBeGreaterThan(0);
  });
});
