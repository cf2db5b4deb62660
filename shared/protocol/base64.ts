/**
 * Little-endian typed arrays <-> base64 (standard alphabet, padded), in plain TypeScript so it
 * runs in Node, workerd and browsers alike. Binary floats keep every logit bit-exact across the
 * wire (JSON decimals would need 9+ digits per value to do the same).
 *
 * Written with lookup tables over typed arrays, not btoa/atob over a binary string: a step
 * encodes and decodes a few kilobytes per direction, and this is on every step's path.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ENCODE = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** Char code -> 6-bit value, 255 for a character outside the alphabet. */
const DECODE = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();
const PAD = 61; // '='
const ascii = new TextDecoder();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesToBase64(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = ENCODE[v >>> 18];
    out[o++] = ENCODE[(v >>> 12) & 63];
    out[o++] = ENCODE[(v >>> 6) & 63];
    out[o++] = ENCODE[v & 63];
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
    out[o++] = ENCODE[v >>> 18];
    out[o++] = ENCODE[(v >>> 12) & 63];
    out[o++] = two ? ENCODE[(v >>> 6) & 63] : PAD;
    out[o++] = PAD;
  }
  return ascii.decode(out);
}

/** Decodes padded or unpadded base64; throws RangeError on a character outside the alphabet. */
function base64ToBytes(text: string): Uint8Array {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === PAD) end--;
  if (text.length - end > 2 || end % 4 === 1) throw new RangeError('not base64: bad length or padding');
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let o = 0;
  let i = 0;
  const at = (j: number) => {
    const v = DECODE[text.charCodeAt(j) & 255];
    if (v === 255 || text.charCodeAt(j) > 255) throw new RangeError(`not base64: character ${JSON.stringify(text[j])} at ${j}`);
    return v;
  };
  for (; i + 3 < end; i += 4) {
    const v = (at(i) << 18) | (at(i + 1) << 12) | (at(i + 2) << 6) | at(i + 3);
    out[o++] = v >>> 16;
    out[o++] = (v >>> 8) & 255;
    out[o++] = v & 255;
  }
  const rest = end - i;
  if (rest >= 2) {
    const v = (at(i) << 18) | (at(i + 1) << 12) | (rest === 3 ? at(i + 2) << 6 : 0);
    out[o++] = v >>> 16;
    if (rest === 3) out[o++] = (v >>> 8) & 255;
  }
  return out;
}

export function encodeFloat32(values: ArrayLike<number>): string {
  if (LITTLE_ENDIAN) {
    const f = values instanceof Float32Array ? values : Float32Array.from(values);
    return bytesToBase64(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytesToBase64(new Uint8Array(view.buffer));
}

export function encodeUint(values: ArrayLike<number>, width: 2 | 4): string {
  if (LITTLE_ENDIAN) {
    const a = width === 2 ? Uint16Array.from(values) : values instanceof Uint32Array ? values : Uint32Array.from(values);
    return bytesToBase64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
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
  if (LITTLE_ENDIAN) return new Float32Array(bytes.buffer, 0, count);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export function decodeUint(text: string, count: number, width: 2 | 4): Uint32Array {
  const bytes = base64ToBytes(text);
  if (bytes.length !== count * width)
    throw new RangeError(`expected ${count} uint${width * 8} values (${count * width} bytes), got ${bytes.length} bytes`);
  if (LITTLE_ENDIAN)
    return width === 4 ? new Uint32Array(bytes.buffer, 0, count) : Uint32Array.from(new Uint16Array(bytes.buffer, 0, count));
  const view = new DataView(bytes.buffer);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = width === 2 ? view.getUint16(i * 2, true) : view.getUint32(i * 4, true);
  return out;
}
