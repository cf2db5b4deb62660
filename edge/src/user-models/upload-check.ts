import { z } from 'zod';
import { ManifestSchema, type Manifest } from '../../../shared/bundle/manifest';
import { firstIssue } from '../../../shared/errors';
import { incompatibility } from '../../../shared/ssd2/routing';
import { UPLOAD_FILE_PATH, USER_MODEL_NAME } from '../../../shared/protocol';
import { ApiError, invalidRequest } from '../errors/api-error';
import type { ServedModel } from '../models/catalog';

/** USER_MODEL_MAX_FILE_BYTES's default: one request body, within Workers' limit on the Free/Pro plans. */
export const DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024;
/** USER_MODEL_QUOTA_BYTES's default: bytes of user models one tenant may store. */
export const DEFAULT_QUOTA_BYTES = 5 * 1024 ** 3;
/** manifest.json itself, as JSON text. */
const MAX_MANIFEST_BYTES = 256 * 1024;

export const CreateUserModelSchema = z.object({
  name: z.string().regex(USER_MODEL_NAME, 'must match [A-Za-z0-9][A-Za-z0-9_-]{0,63} (no dot, slash or @)'),
  /** The bundle's manifest.json, as an object. */
  manifest: z.record(z.string(), z.unknown(), { message: "the bundle's manifest.json, as a JSON object" }),
});

export interface UploadLimits {
  maxFileBytes: number;
  quotaBytes: number;
  storedBytes: number;
}

export interface CheckedUpload {
  manifest: Manifest;
  /** manifest.json as it will be stored. */
  text: string;
  bytes: number;
  /** The served cores it may be mixed with (vocabulary, tokenizer, K and schedule agree). */
  compatible: ServedModel[];
}

/**
 * Everything about an upload that its manifest alone decides, before any byte is stored: the
 * manifest schema, the file list, size limits and the tenant's quota, and which cores it fits.
 * Errors are 400s whose `param` names the manifest field (`manifest.vocab_size`) or file.
 */
export function checkUpload(raw: Record<string, unknown>, cores: readonly ServedModel[], limits: UploadLimits): CheckedUpload {
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const { field, text } = firstIssue(parsed.error, '');
    throw invalidRequest(field ? `manifest.${field}` : 'manifest', `manifest.json: ${text}`, 'invalid_manifest');
  }
  const manifest = parsed.data;
  const text = JSON.stringify(raw, null, 2);
  if (text.length > MAX_MANIFEST_BYTES)
    throw invalidRequest('manifest', `manifest.json is ${text.length} bytes; at most ${MAX_MANIFEST_BYTES}`, 'invalid_manifest');
  const seen = new Set<string>();
  for (const f of manifest.files) {
    if (!UPLOAD_FILE_PATH.test(f.path) || f.path === 'manifest.json') {
      throw invalidRequest(
        'manifest.files',
        `file "${f.path}": paths are relative, segments of [A-Za-z0-9._-] not starting with a dot, and not manifest.json`,
        'invalid_manifest',
      );
    }
    if (seen.has(f.path)) throw invalidRequest('manifest.files', `file "${f.path}" is listed twice`, 'invalid_manifest');
    seen.add(f.path);
    if (f.bytes > limits.maxFileBytes)
      throw invalidRequest(
        'manifest.files',
        `file "${f.path}" has ${f.bytes} bytes; one file may have at most ${limits.maxFileBytes}`,
        'file_too_large',
      );
  }
  // The fields a user model must share with a core to be mixed with it (shared/ssd2/routing.ts).
  const user = {
    vocabSize: manifest.vocab_size,
    tokenizerSha256: manifest.files.find((f) => f.path === manifest.tokenizer)?.sha256 ?? '',
    simplexK: manifest.simplex_k,
    schedule: manifest.schedule,
    blockSchedule: manifest.block_schedule,
  };
  const compatible = cores.filter((core) => incompatibility(core, user) === null);
  if (compatible.length === 0) {
    const differences = cores.map((core) => ({ core, d: incompatibility(core, user)! }));
    const { field, label, actual } = differences[0].d;
    throw invalidRequest(
      `manifest.${field}`,
      `the user model fits no served core (${label} ${String(actual)}): ` +
        differences.map(({ core, d }) => `${core.id} has ${d.label} ${String(d.expected)}`).join('; '),
      'incompatible_models',
    );
  }
  const bytes = manifest.files.reduce((n, f) => n + f.bytes, 0);
  if (limits.storedBytes + bytes > limits.quotaBytes) {
    throw new ApiError(
      400,
      'invalid_request_error',
      'storage_quota_exceeded',
      `this tenant stores ${limits.storedBytes} bytes of user models; ${bytes} more would pass its quota of ${limits.quotaBytes} bytes ` +
        `(DELETE /v1/user_models/{id} frees space)`,
      'manifest.files',
    );
  }
  return { manifest, text, bytes, compatible };
}
