/**
 * Little-endian typed arrays <-> base64, with only btoa/atob so it runs in Node, workerd and
 * browsers alike. Binary floats keep every logit bit-exact across the wire (JSON decimals would
 * need 9+ digits per value to do the same).
 */

function bytesToBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function base64ToBytes(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodeFloat32(values: ArrayLike<number>): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytesToBase64(new Uint8Array(view.buffer));
}

export function encodeUint(values: ArrayLike<number>, width: 2 | 4): string {
  const view = new DataView(new ArrayBuffer(values.length * width));
  for (let i = 0; i < values.length; i++) {
    if (width === 2) view.setUint16(i * 2, values[i], true);
    else view.setUint32(i * 4, values[i], true);
  }
  return bytesToBase64(new Uint8Array(view.buffer));
}

/** Decodes `count` little-endian float32 values; throws RangeError when the length is wrong. */
export function decodeFloat32(text: string, count: number): Float32Array {
  const bytes = base64ToBytes(text);
  if (bytes.length !== count * 4) throw new RangeError(`expected ${count} float32 values (${count * 4} bytes), got ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export function decodeUint(text: string, count: number, width: 2 | 4): Uint32Array {
  const bytes = base64ToBytes(text);
  if (bytes.length !== count * width) throw new RangeError(`expected ${count} uint${width * 8} values (${count * width} bytes), got ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = width === 2 ? view.getUint16(i * 2, true) : view.getUint32(i * 4, true);
  return out;
}
