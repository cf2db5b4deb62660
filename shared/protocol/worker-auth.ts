import { sign, verify } from 'hono/jwt';

/**
 * The edge's credential on GPU workers: a short-lived HS256 JWT per request, signed with a secret
 * only the edge and the workers hold, naming the tenant the request runs for (a worker serves a
 * user model only from that tenant's prefix). Workers accept any of several secrets, so a secret
 * is rotated without downtime: add the new one to the workers, move the edge to it, drop the old.
 */
const WORKER_TOKEN_AUDIENCE = 'ssd2-worker';
/** Seconds a token is valid (requests are signed when sent, so this only bounds clock skew and replay). */
const WORKER_TOKEN_TTL_S = 120;
/** Shortest secret accepted (HS256 wants at least its 32-byte output). */
export const MIN_SECRET_LENGTH = 32;

export interface WorkerClaims {
  tenant: string;
}

export async function signWorkerToken(secret: string, tenant: string, now = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000);
  return sign({ aud: WORKER_TOKEN_AUDIENCE, tenant, iat, exp: iat + WORKER_TOKEN_TTL_S }, secret, 'HS256');
}

/** The claims of a token signed with one of `secrets`, unexpired; null for anything else. */
export async function verifyWorkerToken(token: string, secrets: readonly string[]): Promise<WorkerClaims | null> {
  for (const secret of secrets) {
    try {
      const payload = await verify(token, secret, { alg: 'HS256', aud: WORKER_TOKEN_AUDIENCE });
      if (typeof payload.exp !== 'number' || typeof payload.tenant !== 'string' || payload.tenant === '') return null;
      return { tenant: payload.tenant };
    } catch {
      // another secret may have signed it (rotation)
    }
  }
  return null;
}

/** The Authorization header value for a request to a worker on behalf of `tenant`. */
export async function workerAuthorization(secret: string, tenant: string): Promise<string> {
  return `Bearer ${await signWorkerToken(secret, tenant)}`;
}
