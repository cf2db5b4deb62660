import { z } from 'zod';
import { ModelRefSchema } from './schemas';

/**
 * User models a tenant uploads through the API (docs/edge.md, "User models"). A name has versions
 * 1, 2, … that never change once uploaded and are never reused, so a version's bundle path is a
 * cache key that cannot go stale on any worker.
 */

/** What `name` may be: no dot, slash or `@` (those belong to versions and bundle paths). */
export const USER_MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** `name` or `name@version`, as requests and routes write a registered user model. */
const USER_MODEL_ID = /^([A-Za-z0-9][A-Za-z0-9_-]{0,63})(?:@([1-9][0-9]{0,8}))?$/;

/** A file of an uploaded bundle: relative, segments of [A-Za-z0-9._-] not starting with a dot. */
export const UPLOAD_FILE_PATH = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,7}$/;

/** Bundle paths under this folder of a tenant's prefix belong to uploaded user models only. */
export const UPLOADED_BUNDLE_FOLDER = 'user-models';

/** The bundle path (relative to the tenant's prefix) of an uploaded version. */
export function uploadedBundlePath(name: string, version: number): string {
  return `${UPLOADED_BUNDLE_FOLDER}/${name}/${version}`;
}

/** `legal` → { name: 'legal' }; `legal@2` → { name: 'legal', version: 2 }; null when it is neither. */
export function parseUserModelId(id: string): { name: string; version?: number } | null {
  const m = USER_MODEL_ID.exec(id);
  if (!m) return null;
  return m[2] ? { name: m[1], version: Number(m[2]) } : { name: m[1] };
}

/** Headers of a file upload to a worker: what the bytes must add up to (from the manifest). */
export const UPLOAD_BYTES_HEADER = 'x-ssd2-bytes';
export const UPLOAD_SHA256_HEADER = 'x-ssd2-sha256';

/** POST /v1/user-models/{name}/{version}/validate on a worker. */
export const ValidateUserModelRequestSchema = z.object({
  /** manifest.json exactly as uploaded (its bytes are the bundle's manifest). */
  manifest: z.string().min(2),
  /** Cores the user model will be mixed with: each must load beside it and share its vocabulary. */
  cores: z.array(ModelRefSchema).min(1).max(16),
});
export type ValidateUserModelRequest = z.output<typeof ValidateUserModelRequestSchema>;

/** Why a version failed: the file or field at fault and what is wrong with it. */
export const UserModelFailureSchema = z.object({
  code: z.string(),
  /** The bundle file (`denoiser.onnx`) or manifest field (`vocab_size`) the reason names. */
  param: z.string().nullable(),
  message: z.string(),
});
export type UserModelFailure = z.output<typeof UserModelFailureSchema>;

export const ValidateUserModelReplySchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ready'), stepMs: z.number() }),
  z.object({ status: z.literal('failed'), error: UserModelFailureSchema }),
]);
export type ValidateUserModelReply = z.output<typeof ValidateUserModelReplySchema>;

/** PUT /v1/user-models/{name}/{version}/files/{path} on a worker: what was stored. */
export const StoredFileSchema = z.object({ path: z.string(), bytes: z.number().int().min(0), sha256: z.string() });
export type StoredFile = z.output<typeof StoredFileSchema>;

/** An uploaded user model version as the edge's API returns it (GET /v1/user_models/{id}). */
export const UserModelObjectSchema = z.object({
  /** `name@version` */
  id: z.string(),
  object: z.literal('user_model'),
  name: z.string(),
  version: z.number().int(),
  status: z.enum(['uploading', 'validating', 'ready', 'failed']),
  /** Unix seconds. */
  created_at: z.number().int(),
  bytes: z.number().int(),
  files: z.array(z.object({ path: z.string(), bytes: z.number().int(), sha256: z.string(), uploaded: z.boolean() })),
  /** The core models it may be mixed with. */
  compatible_models: z.array(z.string()),
  /** Why it failed; null unless `status` is failed. */
  error: z.object({ code: z.string().nullable(), param: z.string().nullable(), message: z.string().nullable() }).nullable(),
});
export type UserModelObject = z.output<typeof UserModelObjectSchema>;
