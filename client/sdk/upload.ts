import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UserModelObjectSchema, type UserModelObject } from '../../shared/protocol/user-models';
import { EdgeError } from './edge-error';

export interface UploadProgress {
  /** create: the version is being created; upload: a file's bytes are moving; validating: waiting for the worker's verdict. */
  phase: 'create' | 'upload' | 'validating';
  /** `name@version` once created. */
  id?: string;
  file?: string;
  /** Bytes of `file` sent so far, and its size. */
  sent?: number;
  bytes?: number;
}

export interface UploadUserModelOptions {
  baseUrl: string;
  apiKey: string;
  /** A bundle directory: manifest.json and the files it lists. */
  dir: string;
  /** The name requests will use (`user_model: "legal"`). */
  name: string;
  onProgress?: (p: UploadProgress) => void;
  /** How long to wait for validation (default 10 minutes), and how often to ask (default 1 s). */
  timeoutMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
}

interface ManifestFiles {
  files: { path: string; bytes: number; sha256: string }[];
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads and checks the bundle directory here, so a wrong file is named before anything is sent. */
async function readBundleDir(dir: string): Promise<{ manifest: Record<string, unknown> & ManifestFiles }> {
  let manifest: Record<string, unknown> & ManifestFiles;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  } catch (err) {
    throw new Error(
      `${join(dir, 'manifest.json')}: ` +
        ((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (a bundle directory has a manifest.json)' : (err as Error).message),
    );
  }
  if (!Array.isArray(manifest.files)) throw new Error(`${join(dir, 'manifest.json')}: has no "files" list`);
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    const size = await stat(path).then(
      (s) => s.size,
      () => null,
    );
    if (size === null) throw new Error(`${path}: not found (listed in manifest.json)`);
    if (size !== f.bytes) throw new Error(`${path}: ${size} bytes; manifest.json says ${f.bytes}`);
    const digest = await sha256File(path);
    if (digest !== f.sha256) throw new Error(`${path}: sha256 ${digest}; manifest.json says ${f.sha256}`);
  }
  return { manifest };
}

/**
 * Uploads a user-model bundle directory to the edge as a new version of `name`: creates the
 * version from manifest.json, streams each file from disk (never whole in memory, with progress),
 * and waits until a GPU worker has validated it. Resolves with the version, `ready` or `failed`
 * (`error` says why and names the file or field); throws EdgeError when the edge refuses a call.
 */
export async function uploadUserModel(opts: UploadUserModelOptions): Promise<UserModelObject> {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const auth = { authorization: `Bearer ${opts.apiKey}` };
  const call = async (path: string, init: RequestInit = {}): Promise<UserModelObject> => {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { ...auth, ...(init.headers as Record<string, string>) },
      signal: opts.signal,
    });
    if (!res.ok) throw await EdgeError.from(res);
    return UserModelObjectSchema.parse(await res.json());
  };
  const { manifest } = await readBundleDir(opts.dir);
  opts.onProgress?.({ phase: 'create' });
  let version = await call('/v1/user_models', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: opts.name, manifest }),
  });
  for (const f of version.files) {
    if (f.uploaded) continue;
    let sent = 0;
    const report = () => opts.onProgress?.({ phase: 'upload', id: version.id, file: f.path, sent, bytes: f.bytes });
    report();
    const counted = (Readable.toWeb(createReadStream(join(opts.dir, f.path))) as ReadableStream<Uint8Array>).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          sent += chunk.byteLength;
          report();
          controller.enqueue(chunk);
        },
      }),
    );
    version = await call(`/v1/user_models/${version.id}/files/${f.path}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(f.bytes) },
      body: counted,
      // @ts-expect-error: Node's fetch streams a request body only in half-duplex mode
      duplex: 'half',
    });
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
  while (version.status === 'validating' || version.status === 'uploading') {
    opts.onProgress?.({ phase: 'validating', id: version.id });
    if (Date.now() > deadline)
      throw new Error(
        `${version.id} is still ${version.status} after ${Math.round((opts.timeoutMs ?? 600_000) / 1000)} s; GET ` +
          `/v1/user_models/${version.id} tells when it ends`,
      );
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
    version = await call(`/v1/user_models/${version.id}`);
  }
  return version;
}
