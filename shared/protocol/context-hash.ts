import { sha256Hex } from '../hash/sha256';

/**
 * Content hash of a token context: sha256 over the ids as little-endian uint32, hex. Workers key
 * their context store by it, so a client sends the tokens once and the hash on later steps.
 */
export async function contextHash(tokens: readonly number[]): Promise<string> {
  const view = new DataView(new ArrayBuffer(tokens.length * 4));
  tokens.forEach((t, i) => view.setUint32(i * 4, t, true));
  return sha256Hex(view.buffer);
}
