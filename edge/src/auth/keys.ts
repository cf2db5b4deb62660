import { sha256Hex } from '../../../shared/hash/sha256';

/** Scopes a key can hold. */
export const SCOPES = ['generate', 'models', 'generations', 'usage'] as const;
export type Scope = (typeof SCOPES)[number];

const KEY_PREFIX = 'sk-ssd2-';

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** A fresh secret key: 256 random bits. */
export function newSecretKey(): string {
  return KEY_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Identifier of a stored object, e.g. `key_…`; not secret. */
export function newId(kind: string): string {
  return `${kind}_${base64url(crypto.getRandomValues(new Uint8Array(12)))}`;
}

/** What D1 stores instead of the key. A fast hash is enough: the key has 256 bits of entropy. */
export function hashKey(secret: string): Promise<string> {
  return sha256Hex(secret);
}

/** The part of a key shown in listings so people can tell keys apart. */
export function displayPrefix(secret: string): string {
  return secret.slice(0, KEY_PREFIX.length + 6);
}

/** Compares two strings in time independent of where they differ (for the admin secret). */
export async function timingSafeEqualStrings(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([hashKey(a), hashKey(b)]);
  let diff = 0;
  for (let i = 0; i < ha.length; i++) diff |= ha.charCodeAt(i) ^ hb.charCodeAt(i);
  return diff === 0;
}
