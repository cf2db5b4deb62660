import { describe, expect, it } from 'vitest';
import { ClientMessageSchema, ClientModelInfoSchema } from '../../shared/client-protocol';
import { compactLogits, compactTopIds, densifyLogits } from '../../shared/protocol';
import { privateContextPrefix } from '../../shared/prompt/instruction';
import { blockLogits } from '../../shared/ssd2';
import {
  clientModelInfo,
  loadUserModel,
  privatePrefixTokens,
  sseData,
  StepAnswerer,
  type StepMessage,
  type UserModel,
} from '../../client/sdk';
import { ScriptedDenoiser } from '../helpers/scripted-denoiser';

const step = (over: Partial<StepMessage> = {}): StepMessage => ({
  type: 'step',
  id: 3,
  context: [1, 2, 3],
  noise: { seed: 7, block: 0, step: 1, steps: 4, estimate: [[1], [2], [3], [4]], blockLength: 4 },
  selfCond: null,
  deadlineMs: 1000,
  ...over,
});

describe('client SDK: answering steps', () => {
  it('prepends the private context, densifies self-conditioning and answers valid compact logits for the step id', async () => {
    const model = new ScriptedDenoiser({ role: 'user' }, (req, p) => (req.context[0] === 5 ? 6 : p));
    const answerer = new StepAnswerer(model, [5, 5], 4);
    const prev = compactLogits(
      blockLogits(
        new Float32Array(4 * 8).map((_, i) => i % 8),
        4,
        8,
      ),
      4,
    );
    const reply = await answerer.answer(step({ selfCond: prev }));
    expect(ClientMessageSchema.parse(reply)).toEqual(reply);
    expect(reply.id).toBe(3);
    expect(model.calls[0].context).toEqual([5, 5, 1, 2, 3]);
    expect(model.calls[0].noise).toEqual(step().noise);
    expect(model.calls[0].selfCond?.data).toEqual(densifyLogits(prev).data);
    expect(reply.logits).toMatchObject({ length: 4, vocabSize: 8, k: 4 });
    expect(compactTopIds(reply.logits).map((ids) => ids[0])).toEqual([6, 6, 6, 6]);
  });

  it('sends the context unchanged without a private context', async () => {
    const model = new ScriptedDenoiser({ role: 'user' }, (_r, p) => p);
    await new StepAnswerer(model).answer(step({ selfCond: null }));
    expect(model.calls[0].context).toEqual([1, 2, 3]);
    expect(model.calls[0].selfCond).toBeNull();
  });
});

describe('client SDK: hello', () => {
  const model = new ScriptedDenoiser({ role: 'core', maxContext: 64 }, () => 0);

  it('describes the model as a user model with the private prefix taken off the context budget', () => {
    const info = clientModelInfo(model.info, 10);
    expect(ClientModelInfoSchema.parse(info)).toEqual(info);
    expect(info).toMatchObject({ role: 'user', maxContext: 54, vocabSize: 8, tokenizerSha256: model.info.tokenizerSha256 });
  });

  it('refuses a private context that fills the whole context', () => {
    expect(() => clientModelInfo(model.info, 64)).toThrow(/leaves no room/);
  });
});

describe('client SDK: bundled user model', () => {
  it('tokenizes the private context with the bundle tokenizer, and it changes the local logits', async () => {
    const user: UserModel = await loadUserModel('models/tiny-core');
    const prefix = privatePrefixTokens(user, 'The bird sang in the tree.');
    expect(prefix).toEqual(user.codec.encode(privateContextPrefix('The bird sang in the tree.')));
    expect(privatePrefixTokens(user, '  ')).toEqual([]);
    const s = step({ context: user.codec.encode('The cat sat on the'), noise: { ...step().noise, estimate: null, step: 0 } });
    const plain = await new StepAnswerer(user.denoiser).answer(s);
    const withPrivate = await new StepAnswerer(user.denoiser, prefix).answer(s);
    expect(plain.logits.vocabSize).toBe(user.denoiser.info.vocabSize);
    expect(withPrivate.logits.values).not.toBe(plain.logits.values);
  });
});

describe('client SDK: server-sent events', () => {
  it('yields each data payload, whatever the chunking', async () => {
    const text = 'data: {"a":1}\n\n: comment\ndata: {"b":\ndata: 2}\r\n\r\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 5) c.enqueue(bytes.slice(i, i + 5));
        c.close();
      },
    });
    const out: string[] = [];
    for await (const d of sseData(body)) out.push(d);
    expect(out).toEqual(['{"a":1}', '{"b":\n2}', '[DONE]']);
  });
});
