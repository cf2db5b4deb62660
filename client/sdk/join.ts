import { CLIENT_PROTOCOL_VERSION, ServerMessageSchema, type ClientMessage, type ServerMessage } from '../../shared/client-protocol';
import { DEFAULT_TOP_K } from '../../shared/protocol';
import { clientModelInfo } from './client-info';
import { StepAnswerer, type StepMessage } from './step-answerer';
import { privatePrefixTokens, type UserModel } from './private-prefix';

export interface JoinOptions {
  /** `websocket_url` from `POST /v1/generations`. */
  websocketUrl: string;
  apiKey: string;
  model: UserModel;
  /** Text only the user model reads; it is tokenized and prepended here and never sent. */
  privateContext?: string;
  /** k of the compact logits sent per step (default 32). */
  topK?: number;
  /** Called after each answered step (progress, tests). */
  onStep?: (step: StepMessage, ms: number) => void;
  /** How long to wait for the edge's `ready` (default 30 s). */
  readyTimeoutMs?: number;
  /**
   * Opens the socket. The default (Node, undici) sends the key in the `Authorization` header; a
   * browser, which cannot set headers on a WebSocket, passes `browserSocket` (key as `?api_key=`).
   */
  openSocket?: (websocketUrl: string, apiKey: string) => WebSocket;
}

/** Node's WebSocket (undici) takes headers as an extension of the standard constructor, which keeps the key out of the URL. */
export function headerSocket(websocketUrl: string, apiKey: string): WebSocket {
  return new WebSocket(websocketUrl, { headers: { authorization: `Bearer ${apiKey}` } } as unknown as string[]);
}

/** A browser's WebSocket: no custom headers, so the key goes in the `api_key` query parameter (the edge accepts it on upgrades). */
export function browserSocket(websocketUrl: string, apiKey: string): WebSocket {
  const url = new URL(websocketUrl);
  url.searchParams.set('api_key', apiKey);
  return new WebSocket(url);
}

export interface ClientSessionSummary {
  /** Why the session ended: the edge's `done` reason, or the socket's close. */
  reason: string;
  stepsAnswered: number;
  /** JSON bytes of step messages received and of logits messages sent. */
  bytesReceived: number;
  bytesSent: number;
  /** Time spent in the local model, summed. */
  modelMs: number;
  /** `error` messages the edge sent (stale step ids, rejected logits, ...). */
  errors: { code: string; message: string }[];
}

export interface ClientModelSession {
  generationId: string;
  /** Resolves when the edge has accepted the hello; rejects when the join fails. */
  ready: Promise<void>;
  /** Resolves when the generation ends (or the socket closes) with what happened. */
  done: Promise<ClientSessionSummary>;
  close(): void;
}

/**
 * Joins a reserved generation as its client-side user model: opens the WebSocket with the API key,
 * says hello with the model's description, then answers every step with the local model's compact
 * logits, one step at a time. The private context stays in this process.
 */
export function joinGeneration(opts: JoinOptions): ClientModelSession {
  const prefix = privatePrefixTokens(opts.model, opts.privateContext);
  const info = clientModelInfo(opts.model.denoiser.info, prefix.length);
  const answerer = new StepAnswerer(opts.model.denoiser, prefix, opts.topK ?? DEFAULT_TOP_K);
  const ws = (opts.openSocket ?? headerSocket)(opts.websocketUrl, opts.apiKey);
  const summary: ClientSessionSummary = { reason: '', stepsAnswered: 0, bytesReceived: 0, bytesSent: 0, modelMs: 0, errors: [] };
  let generationId = new URL(opts.websocketUrl).pathname.split('/').at(-2) ?? '';
  let queue = Promise.resolve();

  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej)));
  ready.catch(() => {}); // observed through done as well
  const timer = setTimeout(() => {
    readyReject(new Error(`no ready from the edge within ${opts.readyTimeoutMs ?? 30_000} ms`));
    ws.close();
  }, opts.readyTimeoutMs ?? 30_000);
  let doneResolve!: (s: ClientSessionSummary) => void;
  const done = new Promise<ClientSessionSummary>((res) => (doneResolve = res));

  const send = (m: ClientMessage) => {
    const text = JSON.stringify(m);
    summary.bytesSent += text.length;
    ws.send(text);
  };
  const finish = (reason: string) => {
    clearTimeout(timer);
    summary.reason ||= reason;
    readyReject(new Error(`the join ended before the edge was ready: ${summary.reason}`));
    doneResolve(summary);
  };

  ws.addEventListener('open', () => send({ type: 'hello', v: CLIENT_PROTOCOL_VERSION, info }));
  ws.addEventListener('error', () => finish('websocket error (is the generation id, key or URL wrong?)'));
  ws.addEventListener('close', (e) => finish(`socket closed (${e.code}${e.reason ? ` ${e.reason}` : ''})`));
  ws.addEventListener('message', (e) => {
    const text = typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data as ArrayBuffer);
    summary.bytesReceived += text.length;
    const parsed = ServerMessageSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return void summary.errors.push({ code: 'invalid_server_message', message: parsed.error.issues[0].message });
    const m: ServerMessage = parsed.data;
    if (m.type === 'ready') {
      generationId = m.generationId;
      clearTimeout(timer);
      readyResolve();
    } else if (m.type === 'error') {
      summary.errors.push({ code: m.code, message: m.message });
    } else if (m.type === 'done') {
      summary.reason = m.reason;
    } else {
      // Steps are answered in order; the edge sends the next only after this answer.
      queue = queue
        .then(async () => {
          const started = performance.now();
          const reply = await answerer.answer(m);
          const ms = performance.now() - started;
          summary.modelMs += ms;
          if (ws.readyState !== WebSocket.OPEN) return;
          send(reply);
          summary.stepsAnswered++;
          opts.onStep?.(m, ms);
        })
        .catch((err: Error) => {
          summary.errors.push({ code: 'local_model_error', message: err.message });
          ws.close(1011, 'local model failed');
        });
    }
  });

  return {
    get generationId() {
      return generationId;
    },
    ready,
    done,
    close: () => ws.close(1000, 'client closed'),
  };
}
