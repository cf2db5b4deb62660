import { createHash } from 'node:crypto';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ZodError } from 'zod';
import { BundleError, firstIssue, IncompatibleModelsError, SSD2Error } from '../../../shared/errors';
import {
  GenerateRequestSchema,
  PROTOCOL_VERSION,
  uploadedBundlePath,
  WorkerErrorCode,
  withoutStorageKeys,
  type StoredFile,
  type UserModelFailure,
  type ValidateUserModelReply,
  type ValidateUserModelRequest,
} from '../../../shared/protocol';
import { assertCompatible } from '../../../shared/ssd2';
import { WorkerError } from '../http/errors';
import { userBundleKey } from '../store/bundle-keys';
import type { GenerateService } from './generate-service';
import type { Models, OpenModel } from './models';

/** A version of a tenant's uploaded user model (docs/edge.md, "User models"). */
export interface UploadedVersion {
  tenant: string;
  name: string;
  version: number;
}

/**
 * The worker's half of user-model uploads: it streams each file into the model bucket under the
 * tenant's prefix (hashing as the bytes pass, never holding a file whole), validates a complete
 * bundle by loading it exactly as it is served and running real denoising steps with it, and
 * deletes versions. The edge keeps the registry (names, versions, status) and decides who may ask.
 */
export class UserModelUploads {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly models: Models,
    private readonly generations: GenerateService,
  ) {}

  /** The S3 key prefix of a version: <prefix>tenants/<tenant>/user-models/<name>/<version>/. */
  keyOf(v: UploadedVersion): string {
    return userBundleKey(this.prefix, { tenant: v.tenant, bundle: uploadedBundlePath(v.name, v.version) });
  }

  /**
   * Streams one bundle file to S3 (multipart above 5 MiB, so memory stays bounded) and checks its
   * size and sha256 against what the manifest declared; a mismatch deletes the object and answers
   * 422 file_mismatch naming the file.
   */
  async put(
    v: UploadedVersion,
    path: string,
    body: ReadableStream<Uint8Array>,
    expected: { bytes: number; sha256: string },
  ): Promise<StoredFile> {
    const key = this.keyOf(v) + path;
    const hash = createHash('sha256');
    let bytes = 0;
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          if (bytes > expected.bytes) {
            controller.error(
              new WorkerError(422, WorkerErrorCode.fileMismatch, path, `${path} is longer than the manifest's ${expected.bytes} bytes`),
            );
            return;
          }
          hash.update(chunk);
          controller.enqueue(chunk);
        },
      }),
    );
    try {
      await new Upload({
        client: this.s3,
        params: { Bucket: this.bucket, Key: key, Body: counted, ContentType: 'application/octet-stream' },
      }).done();
    } catch (err) {
      await this.deleteKeys([key]).catch(() => {});
      throw err;
    }
    const sha256 = hash.digest('hex');
    const problem =
      bytes !== expected.bytes
        ? `${path} has ${bytes} bytes; the manifest says ${expected.bytes}`
        : sha256 !== expected.sha256
          ? `${path} has sha256 ${sha256}; the manifest says ${expected.sha256}`
          : null;
    if (problem) {
      await this.deleteKeys([key]);
      throw new WorkerError(422, WorkerErrorCode.fileMismatch, path, problem);
    }
    return { path, bytes, sha256 };
  }

  /**
   * Writes manifest.json and loads the bundle as a request would (every file's size and sha256,
   * the graphs' inputs and outputs), checks it against each core it will be mixed with, and runs
   * real steps: one denoising step whose logits must be finite, then a short fused generation
   * with each core. A bundle that fails is deleted, so it can never be served. S3 or worker
   * trouble is thrown (the edge tries again later); a fault of the bundle is a `failed` reply.
   */
  async validate(v: UploadedVersion, req: ValidateUserModelRequest): Promise<ValidateUserModelReply> {
    const prefix = this.keyOf(v);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${prefix}manifest.json`,
        Body: new TextEncoder().encode(req.manifest),
        ContentType: 'application/json',
      }),
    );
    // A key is never reused for other bytes; still, nothing from an earlier attempt stays open.
    await this.models.store.forget(prefix);
    const ref = { tenant: v.tenant, bundle: uploadedBundlePath(v.name, v.version) };
    const t0 = performance.now();
    let user: OpenModel;
    try {
      user = await this.models.user(ref);
      const { manifest } = user.bundle;
      const info = user.denoiser.info;
      const [logits] = await user.denoiser.denoise([
        {
          context: [info.eosTokenId],
          noise: { seed: 1, block: 0, step: 0, steps: 2, estimate: null, blockLength: info.blockSize },
          selfCond: null,
        },
      ]);
      const bad = logits.data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0)
        throw new ValidationFailure(manifest.graphs.denoiser, `the denoiser's logits are not finite (${logits.data[bad]} at index ${bad})`);
    } catch (err) {
      return this.fail(v, err);
    }
    const stepMs = performance.now() - t0;
    for (const ref_ of req.cores) {
      // A core this worker cannot load is the platform's trouble, not the upload's: thrown.
      const core = await this.models.core(ref_);
      try {
        assertCompatible(core.denoiser, user.denoiser, 'user model');
        const info = core.denoiser.info;
        const events = await this.generations.start(
          GenerateRequestSchema.parse({
            v: PROTOCOL_VERSION,
            model: ref_,
            prompt: [info.eosTokenId],
            options: { steps: 2, maxTokens: info.blockSize, seed: 1, lambda: 0.5 },
            topK: 32,
            user: ref,
          }),
        );
        for await (const e of events) if (e.type === 'error') throw new ValidationFailure(null, e.error.message);
      } catch (err) {
        return this.fail(v, err);
      }
    }
    return { status: 'ready', stepMs };
  }

  /** A fault of the bundle deletes it and becomes the `failed` reply; storage trouble is thrown. */
  private async fail(v: UploadedVersion, err: unknown): Promise<ValidateUserModelReply> {
    if (isStorageError(err) || (err instanceof BundleError && isStorageError(err.cause))) throw err;
    const error = asFailure(err);
    await this.remove(v);
    return { status: 'failed', error };
  }

  /** Deletes every object of a version and drops it from this worker's memory and disk. */
  async remove(v: UploadedVersion): Promise<number> {
    const prefix = this.keyOf(v);
    await this.models.store.forget(prefix);
    let removed = 0;
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      const keys = (page.Contents ?? []).map((o) => o.Key!).filter(Boolean);
      await this.deleteKeys(keys);
      removed += keys.length;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return removed;
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
  }
}

/** A fault of the uploaded bundle found while validating it. */
class ValidationFailure extends Error {
  constructor(
    readonly param: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** S3 answered with an error other than a missing key, or could not be reached. */
function isStorageError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { $metadata?: unknown; name?: string; code?: string };
  if (e.name === 'NoSuchKey') return false;
  return (
    e.$metadata !== undefined || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(e.code ?? '') || e.name === 'TimeoutError'
  );
}

/** The bundle's fault as the reason the edge shows: the file or field it names, never the storage key. */
function asFailure(err: unknown): UserModelFailure {
  if (err instanceof ValidationFailure) return { code: 'invalid_bundle', param: err.param, message: err.message };
  if (err instanceof BundleError) return { code: err.code, param: err.file, message: withoutStorageKeys(err.message) };
  if (err instanceof IncompatibleModelsError) return { code: err.code, param: err.field ?? null, message: err.message };
  if (err instanceof ZodError) {
    const { field, text } = firstIssue(err);
    return { code: 'invalid_bundle', param: field, message: text };
  }
  if (err instanceof WorkerError && err.status === 404)
    return { code: 'invalid_bundle', param: 'manifest.json', message: 'manifest.json could not be read back from storage' };
  if (err instanceof WorkerError && err.status === 422)
    return { code: err.code, param: err.field, message: withoutStorageKeys(err.message) };
  if (err instanceof SSD2Error) return { code: err.code, param: null, message: withoutStorageKeys(err.message) };
  // onnxruntime refusing to run the graphs (shapes, types) with inputs of the bundle format.
  return { code: 'invalid_bundle', param: null, message: withoutStorageKeys((err as Error)?.message ?? String(err)) };
}
