import {
  ErrorBodySchema,
  ProtocolError,
  StoredFileSchema,
  UPLOAD_BYTES_HEADER,
  UPLOAD_SHA256_HEADER,
  ValidateUserModelReplySchema,
  type ModelRef,
  type StoredFile,
  type ValidateUserModelReply,
} from '../../../shared/protocol';
import type { Env } from '../env';
import { parseWorkerUrls, POOL_ORIGIN, WorkerPool } from '../generation/worker-pool';

/** A file streams for as long as it takes; validation loads and runs the bundle (minutes for a large one on a cold worker). */
const UPLOAD_TIMEOUT_MS = 15 * 60_000;
const VALIDATE_TIMEOUT_MS = 5 * 60_000;

export interface VersionRef {
  tenantId: string;
  name: string;
  version: number;
}

function pool(env: Env, tenantId: string, timeoutMs: number): WorkerPool {
  return new WorkerPool(parseWorkerUrls(env.GPU_WORKERS), { secret: env.WORKER_AUTH_SECRET, tenant: tenantId, timeoutMs });
}

const path = (v: VersionRef, rest = '') => `${POOL_ORIGIN}/v1/user-models/${v.name}/${v.version}${rest}`;

async function reply(res: Response): Promise<unknown> {
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const parsed = ErrorBodySchema.safeParse(body);
    throw parsed.success
      ? ProtocolError.fromBody(res.status, parsed.data)
      : new ProtocolError(res.status, 'upstream_error', `GPU worker answered ${res.status}`, null);
  }
  return body;
}

/**
 * The GPU workers' side of uploads (worker-gpu/src/engine/user-model-uploads.ts): every worker
 * reads the same bucket, so any worker will do, and the tenant is the one the token is signed for.
 */
export const workerUploads = {
  /** Streams one file; a worker answers 422 file_mismatch when its size or sha256 is not the manifest's. */
  async putFile(
    env: Env,
    v: VersionRef,
    file: { path: string; bytes: number; sha256: string },
    body: ReadableStream<Uint8Array>,
  ): Promise<StoredFile> {
    // A streamed body can be sent once: no second worker is tried with it.
    const res = await pool(env, v.tenantId, UPLOAD_TIMEOUT_MS).fetch(path(v, `/files/${file.path}`), {
      method: 'PUT',
      headers: {
        [UPLOAD_BYTES_HEADER]: String(file.bytes),
        [UPLOAD_SHA256_HEADER]: file.sha256,
        'content-type': 'application/octet-stream',
      },
      body,
      // @ts-expect-error: workerd streams a request body without `duplex`; Node's fetch needs it
      duplex: 'half',
    });
    return StoredFileSchema.parse(await reply(res));
  },

  async validate(env: Env, v: VersionRef, manifest: string, cores: readonly ModelRef[]): Promise<ValidateUserModelReply> {
    const res = await pool(env, v.tenantId, VALIDATE_TIMEOUT_MS).fetch(path(v, '/validate'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ manifest, cores }),
    });
    return ValidateUserModelReplySchema.parse(await reply(res));
  },

  /** Deletes a version's files from the bucket. */
  async remove(env: Env, v: VersionRef): Promise<void> {
    await reply(await pool(env, v.tenantId, VALIDATE_TIMEOUT_MS).fetch(path(v), { method: 'DELETE' }));
  },
};
