import { SELF } from 'cloudflare:test';
import manifest from '../../models/tiny-core/manifest.json';
import { blockLogits } from '../../shared/ssd2';
import { compactLogits } from '../../shared/protocol';
import type { ClientModelInfo, ServerMessage } from '../../shared/client-protocol';

export const CLIENT_INFO: ClientModelInfo = {
  name: 'test-user-model',
  role: 'user',
  vocabSize: manifest.vocab_size,
  blockSize: manifest.block_size,
  maxContext: manifest.max_context,
  simplexK: manifest.simplex_k,
  schedule: manifest.schedule,
  tTrain: manifest.t_train,
  timestepRange: [0, 1],
  selfConditioning: true,
  eosTokenId: manifest.eos_token_id,
  tokenizerSha256: manifest.files[0].sha256,
};

/** A test client model that prefers 400 + position. `answer` may return a raw message (or null to stay silent). */
export async function joinAsClient(
  generationId: string,
  key: string,
  answer?: (step: Extract<ServerMessage, { type: 'step' }>) => unknown,
): Promise<{ ws: WebSocket; messages: ServerMessage[]; closed: Promise<void> }> {
  const res = await SELF.fetch(`https://edge.test/v1/generations/${generationId}/client`, {
    headers: { upgrade: 'websocket', authorization: `Bearer ${key}` },
  });
  if (!res.webSocket) throw new Error(`join failed: ${res.status} ${await res.text()}`);
  const ws = res.webSocket;
  ws.accept();
  const messages: ServerMessage[] = [];
  const closed = new Promise<void>((resolve) => ws.addEventListener('close', () => resolve()));
  ws.addEventListener('message', (e) => {
    const m = JSON.parse(e.data as string) as ServerMessage;
    messages.push(m);
    if (m.type !== 'step') return;
    const custom = answer ? answer(m) : undefined;
    if (custom === null) return;
    ws.send(JSON.stringify(custom ?? { type: 'logits', id: m.id, logits: preferLogits(m.noise.blockLength, (p) => 400 + p) }));
  });
  ws.send(JSON.stringify({ type: 'hello', v: 1, info: CLIENT_INFO }));
  return { ws, messages, closed };
}

export function preferLogits(length: number, prefer: (p: number) => number) {
  const v = CLIENT_INFO.vocabSize;
  const data = new Float32Array(length * v);
  for (let p = 0; p < length; p++) data[p * v + prefer(p)] = 8;
  return compactLogits(blockLogits(data, length, v), 16);
}
