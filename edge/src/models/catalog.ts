import { codecFromJson, type TextCodec } from '../../../shared/tokenizer';
import type { ModelRef } from '../../../shared/protocol';
import coreManifest from '../../../models/core/manifest.json';
import coreTokenizer from '../../../models/core/tokenizer.json';
import tinyCoreManifest from '../../../models/tiny-core/manifest.json';
import tinyCoreTokenizer from '../../../models/tiny-core/tokenizer.json';
import { z } from 'zod';
import type { Env } from '../env';
import { notFound } from '../errors/api-error';
import { parseWorkerUrls, POOL_ORIGIN, WorkerPool, WorkerPoolError, workerTimeoutMs } from '../generation/worker-pool';

/**
 * A core model the edge serves. The edge needs only its tokenizer and limits (bundled into the
 * Worker, or read from a GPU worker for SERVED_MODELS); weights live with the GPU workers, which
 * fetch the bundle by name and version.
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
  tokenizerSha256: string;
  codec(): TextCodec;
}

type BundledManifest = Pick<
  typeof tinyCoreManifest,
  'name' | 'version' | 'block_size' | 'max_context' | 'vocab_size' | 'eos_token_id' | 'tokenizer' | 'simplex_k' | 'schedule' | 'files'
>;

function bundled(manifest: BundledManifest, tokenizer: unknown): ServedModel {
  let codec: TextCodec | undefined;
  return {
    id: manifest.name,
    ref: { name: manifest.name, version: manifest.version },
    blockSize: manifest.block_size,
    maxContext: manifest.max_context,
    vocabSize: manifest.vocab_size,
    eosTokenId: manifest.eos_token_id,
    simplexK: manifest.simplex_k,
    schedule: manifest.schedule,
    tokenizerSha256: manifest.files.find((f) => f.path === manifest.tokenizer)!.sha256,
    codec: () =>
      (codec ??= codecFromJson(
        manifest.name,
        manifest.tokenizer,
        new TextEncoder().encode(JSON.stringify(tokenizer)),
        manifest.vocab_size,
        manifest.eos_token_id,
      )),
  };
}

/** The bundled core models, the bundled core first: it is what `npm start` and the docs use by default. */
export const MODELS: readonly ServedModel[] = [bundled(coreManifest, coreTokenizer), bundled(tinyCoreManifest, tinyCoreTokenizer)];

const matches = (m: ServedModel, id: string) => m.id === id || `${m.ref.name}@${m.ref.version}` === id;

/** SERVED_MODELS: `name@version` of core bundles in the model bucket served besides the bundled ones. */
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

/** Described once per isolate: a configured model's limits and tokenizer, from a GPU worker. */
const described = new Map<string, Promise<ServedModel>>();

const WorkerModelSchema = z.object({
  info: z.object({
    vocabSize: z.number(),
    blockSize: z.number(),
    maxContext: z.number(),
    eosTokenId: z.number(),
    simplexK: z.number(),
    schedule: z.string(),
    tokenizerSha256: z.string(),
  }),
});

async function describeConfigured(env: Env, tenantId: string, ref: ModelRef): Promise<ServedModel> {
  const pool = new WorkerPool(parseWorkerUrls(env.GPU_WORKERS), {
    secret: env.WORKER_AUTH_SECRET,
    tenant: tenantId,
    timeoutMs: workerTimeoutMs(env),
  });
  const base = `${POOL_ORIGIN}/v1/models/${encodeURIComponent(ref.name)}/${encodeURIComponent(ref.version)}`;
  const infoRes = await pool.fetch(base);
  if (!infoRes.ok) throw new WorkerPoolError(`GET ${base} answered ${infoRes.status}: ${(await infoRes.text()).slice(0, 200)}`);
  const { info } = WorkerModelSchema.parse(await infoRes.json());
  const tokRes = await pool.fetch(`${base}/tokenizer.json`);
  if (!tokRes.ok) throw new WorkerPoolError(`GET ${base}/tokenizer.json answered ${tokRes.status}`);
  const tokenizer = new Uint8Array(await tokRes.arrayBuffer());
  const codec = codecFromJson(`${ref.name}@${ref.version}`, 'tokenizer.json', tokenizer, info.vocabSize, info.eosTokenId);
  return {
    id: ref.name,
    ref,
    blockSize: info.blockSize,
    maxContext: info.maxContext,
    vocabSize: info.vocabSize,
    eosTokenId: info.eosTokenId,
    simplexK: info.simplexK,
    schedule: info.schedule,
    tokenizerSha256: info.tokenizerSha256,
    codec: () => codec,
  };
}

function configured(env: Env, tenantId: string, ref: ModelRef): Promise<ServedModel> {
  const key = `${ref.name}@${ref.version}`;
  let pending = described.get(key);
  if (!pending) {
    // A failure is not remembered: the next request asks a worker again.
    pending = describeConfigured(env, tenantId, ref).catch((err) => {
      described.delete(key);
      throw err;
    });
    described.set(key, pending);
  }
  return pending;
}

/**
 * Every core model this edge serves: the bundled ones, then SERVED_MODELS (described by a GPU
 * worker on first use; one that no worker can describe now is left out of the list).
 */
export async function servedModels(env: Env, tenantId: string): Promise<ServedModel[]> {
  const extra = await Promise.all(
    configuredRefs(env).map((ref) =>
      configured(env, tenantId, ref).catch((err) => {
        console.error('a configured model could not be described', `${ref.name}@${ref.version}`, (err as Error)?.message ?? err);
        return null;
      }),
    ),
  );
  return [...MODELS, ...extra.filter((m): m is ServedModel => m !== null)];
}

/** The model a request names, as `name` or `name@version`; 404 `model_not_found` otherwise. */
export async function findModel(env: Env, tenantId: string, id: string): Promise<ServedModel> {
  const local = MODELS.find((m) => matches(m, id));
  if (local) return local;
  const ref = configuredRefs(env).find((r) => r.name === id || `${r.name}@${r.version}` === id);
  if (!ref) throw notFound('model', `the model "${id}" does not exist; GET /v1/models lists the served models`, 'model_not_found');
  return configured(env, tenantId, ref);
}
