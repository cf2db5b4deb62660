import type { ModelRef, UserModelRef } from '../../../shared/protocol';
import { forbidden } from '../http/errors';

/** S3 key prefix of a core bundle: <prefix>models/<name>/<version>/. Names are schema-checked ([A-Za-z0-9._-]). */
export function coreBundleKey(prefix: string, ref: ModelRef): string {
  return `${prefix}models/${ref.name}/${ref.version}/`;
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * S3 key prefix of a user bundle, always inside <prefix>tenants/<tenant>/. The bundle path is
 * relative to the tenant's prefix ("adapters/legal-v2"); "tenants/<tenant>/…" is accepted for the
 * same tenant only. Anything that could leave the prefix (.., absolute paths, URLs, other tenants,
 * odd characters) is refused with 403 rather than normalised.
 */
export function userBundleKey(prefix: string, ref: UserModelRef, field = 'user.bundle'): string {
  let path = ref.bundle.replace(/\/+$/, '');
  const own = `tenants/${ref.tenant}/`;
  if (path.startsWith('tenants/')) {
    if (!path.startsWith(own)) throw forbidden(field, `"${ref.bundle}" is outside tenant ${ref.tenant}'s prefix ${own}`);
    path = path.slice(own.length);
  }
  const segments = path.split('/');
  if (path === '' || !segments.every((s) => SEGMENT.test(s))) {
    throw forbidden(
      field,
      `"${ref.bundle}" is not a path inside tenant ${ref.tenant}'s prefix ${own} (segments must match [A-Za-z0-9_-][A-Za-z0-9._-]*)`,
    );
  }
  return `${prefix}${own}${segments.join('/')}/`;
}
