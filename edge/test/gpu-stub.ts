/**
 * A stand-in GPU worker for the workerd tests, run in Node as the test Worker's outbound service.
 * It speaks the real wire protocol (shared/protocol schemas in and out, compact logits, context
 * hashes, NDJSON fused generation through the shared engine) with scripted models instead of
 * onnxruntime, records every request, and fails on cue so the pool's retries can be tested.
 * Hosts: any `*.gpu.test` is a worker (each with its own context store); `stub.control` is the
 * test's control panel (`/fail-once`, `/abort-once`, `/hang-once`, `/outage` for a set of seeds, `/log`,
 * `/validation-down`, `/uploaded`). User-model uploads land in an in-memory bucket.
 */
import { Response, type Request } from 'miniflare';
import { readFileSync } from 'node:fs';
import { blockLogits, generate, type BlockLogits, type DenoiseStep, type Denoiser, type DenoiserInfo } from '../../shared/ssd2';
import {
  compactLogits,
  contextHash,
  GenerateRequestSchema,
  PROTOCOL_VERSION,
  StepRequestSchema,
  verifyWorkerToken,
  wireView,
  densifyLogits,
} from '../../shared/protocol';

/** The secret the test edge signs worker requests with (its WORKER_AUTH_SECRET binding); the stub accepts only it. */
export const STUB_WORKER_SECRET = 'test-worker-secret-0123456789abcdefghij';

const manifest = JSON.parse(readFileSync(new URL('../../models/tiny-core/manifest.json', import.meta.url), 'utf8'));

export const STUB_INFO: DenoiserInfo = {
  name: manifest.name,
  role: 'core',
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

/** What the stub describes to the edge (GET /v1/models/{name}/{version} and its tokenizer.json): the bundles the edge serves. */
const DESCRIBED = new Map<string, { info: DenoiserInfo; tokenizer: Uint8Array }>(
  ['tiny-core', 'core'].map((dir) => {
    const m = JSON.parse(readFileSync(new URL(`../../models/${dir}/manifest.json`, import.meta.url), 'utf8'));
    const tokenizer = new Uint8Array(readFileSync(new URL(`../../models/${dir}/tokenizer.json`, import.meta.url)));
    const sha256 = m.files.find((f: { path: string }) => f.path === m.tokenizer).sha256;
    const info: DenoiserInfo =
      dir === 'tiny-core'
        ? STUB_INFO
        : {
            ...STUB_INFO,
            name: m.name,
            vocabSize: m.vocab_size,
            blockSize: m.block_size,
            maxContext: m.max_context,
            eosTokenId: m.eos_token_id,
            tokenizerSha256: sha256,
            blockSchedule: m.block_schedule,
          };
    return [`${m.name}@${m.version}`, { info, tokenizer }] as const;
  }),
);

/** The scripted core prefers a token that depends on the context; the scripted user model prefers 300 + position. */
export const coreToken = (context: readonly number[], p: number) => ((context.reduce((a, b) => a + b, 0) + 7 * p) % 500) + 5;
export const userToken = (_context: readonly number[], p: number) => 300 + (p % 10);

function scripted(info: DenoiserInfo, prefer: (context: readonly number[], p: number) => number): Denoiser {
  return {
    info,
    async denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]> {
      return steps.map((s) => logitsFor(s.context, s.noise.blockLength, prefer));
    },
  };
}

function logitsFor(context: readonly number[], length: number, prefer: (context: readonly number[], p: number) => number): BlockLogits {
  const v = STUB_INFO.vocabSize;
  const data = new Float32Array(length * v);
  for (let p = 0; p < length; p++) {
    for (let id = 0; id < v; id++) data[p * v + id] = -((id * 31 + p) % 17) / 4; // a non-flat tail
    data[p * v + prefer(context, p)] = 8;
  }
  return blockLogits(data, length, v);
}

export interface StubRecord {
  host: string;
  path: string;
  seed: number | null;
  body: any;
  /** The tenant of the request's worker token. */
  tenant: string | null;
  outcome: 'ok' | 'failed' | 'aborted' | 'rejected' | 'unauthorized';
}

const records: StubRecord[] = [];
const failOnce = new Set<number>();
const abortOnce = new Set<number>();
/** Seeds whose next fused request is accepted and then never answered (a worker gone silent). */
const hangOnce = new Set<number>();
/** Seeds whose requests fail as if every worker were down (connection refused) until a deadline. */
const outage = new Map<number, number>();
const contexts = new Map<string, Map<string, number[]>>();

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const protocolError = (status: number, code: string, field: string | null, message: string) =>
  json({ error: { code, message, field } }, status);

export async function gpuStub(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.hostname === 'stub.control') return control(url, request);
  if (!url.hostname.endsWith('.gpu.test')) return new Response(`stub: no network for ${url.href}`, { status: 502 });
  if (url.hostname.startsWith('down')) throw new Error(`connect ECONNREFUSED ${url.hostname}`);
  const body: any = request.method === 'POST' ? await request.json() : null;
  const seed = body?.seed ?? body?.options?.seed ?? null;
  // As a real worker: every request needs the edge's signed token.
  const token = request.headers.get('authorization')?.replace(/^Bearer /, '') ?? '';
  const claims = await verifyWorkerToken(token, [STUB_WORKER_SECRET]);
  const record: StubRecord = { host: url.hostname, path: url.pathname, seed, body, tenant: claims?.tenant ?? null, outcome: 'ok' };
  records.push(record);
  if (!claims) {
    record.outcome = 'unauthorized';
    return protocolError(401, 'unauthorized', null, 'stub: missing or invalid worker credential');
  }
  if (seed !== null && (outage.get(seed) ?? 0) > Date.now()) {
    record.outcome = 'failed';
    throw new Error(`connect ECONNREFUSED ${url.hostname} (stub outage)`);
  }
  if (seed !== null && failOnce.delete(seed)) {
    record.outcome = 'failed';
    return protocolError(503, 'overloaded', null, 'stub: failing once on cue');
  }
  const described = /^\/v1\/models\/([^/]+)\/([^/]+)(\/tokenizer\.json)?$/.exec(url.pathname);
  if (described) {
    const model = DESCRIBED.get(`${described[1]}@${described[2]}`);
    if (!model) return protocolError(404, 'model_not_found', 'model', `no bundle at ${url.pathname}`);
    if (described[3]) return new Response(model.tokenizer, { headers: { 'content-type': 'application/json' } });
    return json({ model: { name: described[1], version: described[2] }, info: model.info, provider: 'stub' });
  }
  if (url.pathname === '/v1/step') return step(url.hostname, body, record);
  if (url.pathname === '/v1/generate' && seed !== null && hangOnce.delete(seed)) {
    record.outcome = 'aborted';
    return new Promise<Response>(() => {}); // silent forever
  }
  if (url.pathname === '/v1/generate') return fused(body, record);
  const upload = /^\/v1\/user-models\/([^/]+)\/(\d+)(\/validate|\/files\/(.+))?$/.exec(url.pathname);
  if (upload)
    return userModelUpload(
      `${claims.tenant}/${upload[1]}/${upload[2]}/`,
      upload[3] === '/validate' ? 'validate' : (upload[4] ?? null),
      request,
      body,
    );
  return protocolError(404, 'not_found', null, `no route ${url.pathname}`);
}

async function step(host: string, body: unknown, record: StubRecord): Promise<Response> {
  const parsed = StepRequestSchema.safeParse(body);
  if (!parsed.success) {
    record.outcome = 'rejected';
    return protocolError(400, 'invalid_argument', parsed.error.issues[0].path.join('.'), parsed.error.issues[0].message);
  }
  const req = parsed.data;
  const store = contexts.get(host) ?? contexts.set(host, new Map()).get(host)!;
  let context = req.context;
  const hash = req.contextHash ?? (await contextHash(context!));
  if (context) store.set(hash, context);
  else context = store.get(hash);
  if (!context) {
    record.outcome = 'rejected';
    return protocolError(409, 'context_unknown', 'contextHash', 'stub: unknown context hash');
  }
  if (req.selfCond) densifyLogits(req.selfCond); // must be well-formed
  const logits = compactLogits(logitsFor(context, req.blockLength, coreToken), req.topK);
  return json({
    v: PROTOCOL_VERSION,
    model: req.model,
    logits,
    contextHash: hash,
    timing: { queueMs: 0, runMs: 0, totalMs: 0, batchSize: 1 },
  });
}

async function fused(body: unknown, record: StubRecord): Promise<Response> {
  const parsed = GenerateRequestSchema.safeParse(body);
  if (!parsed.success) {
    record.outcome = 'rejected';
    return protocolError(400, 'invalid_argument', parsed.error.issues[0].path.join('.'), parsed.error.issues[0].message);
  }
  const req = parsed.data;
  if (req.user && req.user.bundle === 'missing') return protocolError(404, 'model_not_found', 'user.bundle', 'stub: no such user bundle');
  const core = wireView(scripted(STUB_INFO, coreToken), req.topK);
  const user = req.user ? wireView(scripted({ ...STUB_INFO, role: 'user', name: req.user.bundle }, userToken), req.topK) : undefined;
  const events = generate({ core, user }, { ...req.options, prompt: req.prompt, userContext: req.user?.context });
  const abortAfterFirstBlock = abortOnce.delete(req.options?.seed ?? -1);
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await events.next();
      if (next.done) return controller.close();
      const e = next.value;
      if (e.type === 'block')
        controller.enqueue(
          encoder.encode(
            `${JSON.stringify({ type: 'block', block: e.block, tokens: e.tokens, stepsRun: e.stepsRun, stepsSaved: e.stepsSaved })}\n`,
          ),
        );
      if (e.type === 'block' && abortAfterFirstBlock) {
        record.outcome = 'aborted';
        return controller.error(new Error('stub: worker died mid-stream'));
      }
      if (e.type === 'done') controller.enqueue(encoder.encode(`${JSON.stringify({ type: 'done', ...e.result })}\n`));
    },
  });
  return new Response(stream as any, { headers: { 'content-type': 'application/x-ndjson' } });
}

/** Files stored by user-model uploads, by `<tenant>/<name>/<version>/<path>`: their size and sha256. */
const uploaded = new Map<string, { bytes: number; sha256: string }>();
/** While set, validation answers 503 (every worker busy): the version stays validating. */
let validationDown = false;

/** The worker's upload routes over an in-memory bucket: files are hashed as stored; validation checks every listed file is there. */
async function userModelUpload(prefix: string, action: string | null, request: Request, body: any): Promise<Response> {
  if (request.method === 'PUT' && action && action !== 'validate') {
    const bytes = new Uint8Array(await request.arrayBuffer());
    const sha256 = Buffer.from(await crypto.subtle.digest('SHA-256', bytes)).toString('hex');
    if (bytes.byteLength !== Number(request.headers.get('x-ssd2-bytes')) || sha256 !== request.headers.get('x-ssd2-sha256')) {
      return protocolError(
        422,
        'file_mismatch',
        action,
        `${action} has ${bytes.byteLength} bytes and sha256 ${sha256}; the manifest says otherwise`,
      );
    }
    uploaded.set(prefix + action, { bytes: bytes.byteLength, sha256 });
    return json({ path: action, bytes: bytes.byteLength, sha256 });
  }
  if (request.method === 'POST' && action === 'validate') {
    if (validationDown) return protocolError(503, 'overloaded', null, 'stub: validation unavailable');
    const files = JSON.parse(body.manifest).files as { path: string; sha256: string }[];
    const missing = files.find((f) => uploaded.get(prefix + f.path)?.sha256 !== f.sha256);
    return json(
      missing
        ? { status: 'failed', error: { code: 'invalid_bundle', param: missing.path, message: `${missing.path}: file not found` } }
        : { status: 'ready', stepMs: 1 },
    );
  }
  if (request.method === 'DELETE' && action === null) {
    const keys = [...uploaded.keys()].filter((k) => k.startsWith(prefix));
    for (const k of keys) uploaded.delete(k);
    return json({ deleted: keys.length });
  }
  return protocolError(404, 'not_found', null, `stub: no route ${request.method} ${prefix}${action ?? ''}`);
}

async function control(url: URL, request: Request): Promise<Response> {
  const seed = Number(url.searchParams.get('seed'));
  if (url.pathname === '/fail-once') failOnce.add(seed);
  else if (url.pathname === '/abort-once') abortOnce.add(seed);
  else if (url.pathname === '/hang-once') hangOnce.add(seed);
  else if (url.pathname === '/validation-down') validationDown = url.searchParams.get('on') === '1';
  else if (url.pathname === '/uploaded')
    return json([...uploaded.keys()].filter((k) => k.startsWith(url.searchParams.get('prefix') ?? '')));
  else if (url.pathname === '/outage') {
    const { seeds, ms } = (await request.json()) as { seeds: number[]; ms: number };
    for (const s of seeds) outage.set(s, Date.now() + ms);
    return json({ ok: true });
  } else if (url.pathname === '/log')
    return json(records.filter((r) => r.seed === seed || (url.searchParams.has('all') && r.seed === null)));
  else return new Response('unknown control', { status: 404 });
  await request.arrayBuffer();
  return json({ ok: true });
}
