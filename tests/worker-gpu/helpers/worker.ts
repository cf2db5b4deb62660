import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../worker-gpu/src/config';
import { startWorker, type RunningWorker } from '../../../worker-gpu/src/server';
import { GenerateEventSchema, type GenerateEvent } from '../../../shared/protocol';
import { workerAuthorization } from '../../../shared/protocol/worker-auth';
import { ndjsonLines } from '../../../shared/streams';
import { CACHE } from '../../helpers/paths';
import { BUCKET, S3_KEY, type TestS3 } from './s3';

/** The secret test workers accept and test clients sign with (the edge's WORKER_AUTH_SECRET in production). */
export const TEST_WORKER_SECRET = 'test-worker-secret-0123456789abcdefghij';

/**
 * fetch as the edge calls a worker: with a token signed for `tenant`, by default the tenant of the
 * JSON body's user model ("dev" when there is none).
 */
export function signedFetch(tenant?: string): typeof fetch {
  return async (input, init) => {
    let owner = tenant;
    if (!owner && typeof init?.body === 'string') {
      try {
        owner = JSON.parse(init.body)?.user?.tenant;
      } catch {
        // not JSON: the default tenant
      }
    }
    const headers = new Headers(init?.headers);
    headers.set('authorization', await workerAuthorization(TEST_WORKER_SECRET, owner ?? 'dev'));
    return fetch(input, { ...init, headers });
  };
}

/** `signedFetch()`: the tenant from the body. */
export const workerFetch = signedFetch();

/** Environment of a worker reading from the test S3 server, with a fresh disk cache. */
export function workerEnv(s3: TestS3, extra: Record<string, string> = {}): Record<string, string> {
  mkdirSync(CACHE, { recursive: true });
  const env: Record<string, string> = {
    WORKER_PORT: '0',
    WORKER_HOST: '127.0.0.1',
    SSD2_PROVIDERS: 'cpu',
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: BUCKET,
    AWS_ACCESS_KEY_ID: S3_KEY,
    AWS_SECRET_ACCESS_KEY: S3_KEY,
    WORKER_CACHE_DIR: mkdtempSync(join(CACHE, 'worker-cache-')),
    WORKER_DEFAULT_MODEL: 'tiny-core@0.1.0',
    WORKER_LOG: 'silent',
    WORKER_AUTH_SECRETS: TEST_WORKER_SECRET,
    ...extra,
  };
  // An empty override removes the variable.
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
}

/** A worker in this process, serving over real HTTP on a random port, default model loaded. */
export function startTestWorker(s3: TestS3, extra: Record<string, string> = {}): Promise<RunningWorker> {
  return startWorker(loadConfig(workerEnv(s3, extra)), { awaitWarm: true });
}

/** POST to a worker, signed (`workerFetch`). */
export async function postJson(url: string, body: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await workerFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

/** Value of one Prometheus sample line, e.g. metric(text, 'ssd2_worker_model_loads_total{source="s3"}'). */
export function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

/**
 * POST /v1/generate, signed: on success the NDJSON events, each checked against the protocol's
 * schema (a reply of another content type throws); otherwise the error body in `json`.
 */
export async function postGenerate(url: string, body: unknown): Promise<{ status: number; events: GenerateEvent[]; json?: any }> {
  const res = await workerFetch(`${url}/v1/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) return { status: res.status, events: [], json: await res.json() };
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('application/x-ndjson') || !res.body) throw new Error(`/v1/generate answered ${res.status} with content-type ${type}`);
  const events: GenerateEvent[] = [];
  for await (const line of ndjsonLines(res.body)) events.push(GenerateEventSchema.parse(line));
  return { status: res.status, events };
}
