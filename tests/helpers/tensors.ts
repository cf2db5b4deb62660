import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

interface Index {
  report: Record<string, unknown>;
  tensors: Record<string, { dtype: 'int64' | 'float32'; shape: number[]; file: string }>;
}

/** Reads the tensors parity.py wrote (raw little-endian arrays + parity.json). */
export function readParityFixtures(dir: string): {
  report: Index['report'];
  has: (name: string) => boolean;
  tensor: (name: string) => ort.Tensor;
} {
  const index: Index = JSON.parse(readFileSync(join(dir, 'parity.json'), 'utf8'));
  return {
    report: index.report,
    has: (name) => name in index.tensors,
    tensor: (name) => {
      const meta = index.tensors[name];
      if (!meta) throw new Error(`no tensor ${name} in ${dir}`);
      const buf = readFileSync(join(dir, meta.file));
      const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      return meta.dtype === 'int64'
        ? new ort.Tensor('int64', new BigInt64Array(bytes), meta.shape)
        : new ort.Tensor('float32', new Float32Array(bytes), meta.shape);
    },
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
