import { RemoteDenoiser, type ModelRef } from '../../../shared/protocol';
import { codecFromJson, type TextCodec } from '../../../shared/tokenizer';
import type { BlockSchedule } from '../../../shared/ssd2';
import type { Env } from '../env';
import { notFound } from '../errors/api-error';
import { parseWorkerUrls, POOL_ORIGIN, WorkerPool, WorkerPoolError, workerTimeoutMs } from '../generation/worker-pool';

/**
 * A core model the edge serves. The edge needs only its limits and tokenizer, which it reads from
 * a GPU worker the first time a model is named (the bundle's manifest and tokenizer.json); the
 * weights stay with the GPU workers, which load the bundle by name and version. Nothing about a
 * model is compiled into the edge: serving another one is a change of SERVED_MODELS.
 */
export interface ServedModel {
  /** What clients put in `model`. */
  id: string;
  ref: ModelRef;
  blockSize: number;
  maxContext: number;
  vocabSize: number;
  eosTokenId: number;
  /** What a user model mixed with it must share (shared/ssd2/routing.ts assertCompatible). */
  simplexK: number;
  schedule: string;
  /** How its blocks' positions share the noise level (the default steps follow it). */
  blockSchedule?: BlockSchedule;
  tokenizerSha256: string;
  codec(): TextCodec;
}

/** SERVED_MODELS: the `name@version` core bundles in the model bucket this edge serves, the default first. */
function configuredRefs(env: Pick<Env, 'SERVED_MODELS'>): ModelRef[] {
  return (env.SERVED_MODELS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const at = s.lastIndexOf('@');
      if (at <= 0) throw new Error(`SERVED_MODELS: "${s}" is not name@version`);
      return { name: s.slice(0, at), version: s.slice(at + 1) };
    });
}

/** Described once per isolate: a model's limits and tokenizer, from a GPU worker. */
const described = new Map<string, Promise<ServedModel>>();

async function describe(env: Env, tenantId: string, ref: ModelRef): Promise<ServedModel> {
  const pool = new WorkerPool(parseWorkerUrls(env.GPU_WORKERS), {
    secret: env.WORKER_AUTH_SECRET,
    tenant: tenantId,
    timeoutMs: workerTimeoutMs(env),
  });
  // The model's description as the per-step loop reads it, then its tokenizer.
  const { info } = await RemoteDenoiser.connect({ endpoint: POOL_ORIGIN, model: ref, fetch: pool.fetch });
  const res = await pool.fetch(
    `${POOL_ORIGIN}/v1/models/${encodeURIComponent(ref.name)}/${encodeURIComponent(ref.version)}/tokenizer.json`,
  );
  if (!res.ok) throw new WorkerPoolError(`GET tokenizer.json of ${ref.name}@${ref.version} answered ${res.status}`);
  const codec = codecFromJson(
    `${ref.name}@${ref.version}`,
    'tokenizer.json',
    new Uint8Array(await res.arrayBuffer()),
    info.vocabSize,
    info.eosTokenId,
  );
  return {
    id: ref.name,
    ref,
    blockSize: info.blockSize,
    maxContext: info.maxContext,
    vocabSize: info.vocabSize,
    eosTokenId: info.eosTokenId,
    simplexK: info.simplexK,
    schedule: info.schedule,
    blockSchedule: info.blockSchedule,
    tokenizerSha256: info.tokenizerSha256,
    codec: () => codec,
  };
}

function served(env: Env, tenantId: string, ref: ModelRef): Promise<ServedModel> {
  const key = `${ref.name}@${ref.version}`;
  let pending = described.get(key);
  if (!pending) {
    // A failure is not remembered: the next request asks a worker again.
    pending = describe(env, tenantId, ref).catch((err) => {
      described.delete(key);
      throw err;
    });
    described.set(key, pending);
  }
  return pending;
}

/** Every core model this edge serves (SERVED_MODELS order); one no worker can describe now is left out. */
export async function servedModels(env: Env, tenantId: string): Promise<ServedModel[]> {
  const models = await Promise.all(
    configuredRefs(env).map((ref) =>
      served(env, tenantId, ref).catch((err) => {
        console.error('a served model could not be described', `${ref.name}@${ref.version}`, (err as Error)?.message ?? err);
        return null;
      }),
    ),
  );
  return models.filter((m): m is ServedModel => m !== null);
}

/** The model a request names, as `name` or `name@version`; 404 `model_not_found` otherwise. */
export async function findModel(env: Env, tenantId: string, id: string): Promise<ServedModel> {
  const ref = configuredRefs(env).find((r) => r.name === id || `${r.name}@${r.version}` === id);
  if (!ref) throw notFound('model', `the model "${id}" does not exist; GET /v1/models lists the served models`, 'model_not_found');
  return served(env, tenantId, ref);
}
