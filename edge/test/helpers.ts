import { SELF } from 'cloudflare:test';
import { sseData } from '../../shared/streams';
import type { StubRecord } from './gpu-stub';

export const ADMIN = { authorization: 'Bearer test-admin-secret' };
const BASE = 'https://edge.test';

let tenantCounter = 0;

export function adminFetch(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  return SELF.fetch(BASE + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...ADMIN, 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

/** A fresh tenant with one key (all scopes unless given). */
export async function newTenant(
  opts: { policy?: unknown; scopes?: string[]; rateLimit?: number } = {},
): Promise<{ tenantId: string; key: string; keyId: string }> {
  const tenantId = `t${Date.now().toString(36)}${tenantCounter++}${Math.random().toString(36).slice(2, 6)}`;
  const t = await adminFetch('/admin/tenants', { body: { id: tenantId, name: tenantId, ...(opts.policy ? { policy: opts.policy } : {}) } });
  if (t.status !== 201) throw new Error(`tenant: ${t.status} ${await t.text()}`);
  const k = await adminFetch(`/admin/tenants/${tenantId}/keys`, {
    body: {
      name: 'test',
      ...(opts.scopes ? { scopes: opts.scopes } : {}),
      ...(opts.rateLimit ? { rate_limit_per_minute: opts.rateLimit } : {}),
    },
  });
  const body = (await k.json()) as { key: string; id: string };
  return { tenantId, key: body.key, keyId: body.id };
}

export function api(
  path: string,
  key: string | null,
  body?: unknown,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  return SELF.fetch(BASE + path, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json', ...init.headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** What the stand-in GPU workers received for requests with this seed. */
export async function stubLog(seed: number): Promise<StubRecord[]> {
  return (await fetch(`http://stub.control/log?seed=${seed}`)).json();
}

export async function stubControl(what: 'fail-once' | 'abort-once' | 'hang-once', seed: number): Promise<void> {
  await fetch(`http://stub.control/${what}?seed=${seed}`, { method: 'POST' });
}

/** What is left of a stream, read to its end, as text. */
export async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return rest + decoder.decode();
    rest += decoder.decode(value, { stream: true });
  }
}

/** The JSON payloads of an SSE body, `[DONE]` as the string. */
export async function sseEvents(res: Response): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const data of sseData(res.body!)) out.push(data === '[DONE]' ? data : JSON.parse(data));
  return out;
}

let seedCounter = 1000 + Math.floor(Math.random() * 1e6);
/** A seed no other test uses, so stub records can be told apart. */
export const uniqueSeed = () => seedCounter++ * 7919;

/** Every GPU worker refuses connections for requests with these seeds, for `ms` milliseconds. */
export async function stubOutage(seeds: number[], ms: number): Promise<void> {
  await fetch('http://stub.control/outage', { method: 'POST', body: JSON.stringify({ seeds, ms }) });
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
