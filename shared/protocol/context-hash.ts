/**
 * Content hash of a token context: sha256 over the ids as little-endian uint32, hex. Workers key
 * their context store by it, so a client sends the tokens once and the hash on later steps.
 */
export async function contextHash(tokens: readonly number[]): Promise<string> {
  const view = new DataView(new ArrayBuffer(tokens.length * 4));
  tokens.forEach((t, i) => view.setUint32(i * 4, t, true));
  const digest = await crypto.subtle.digest('SHA-256', view.buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
