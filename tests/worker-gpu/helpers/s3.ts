import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import S3rver from 's3rver';
import { s3Client } from '../../../worker-gpu/src/store/s3-source';
import { CACHE } from '../../helpers/paths';

export const BUCKET = 'models';
export const S3_KEY = 'S3RVER';

export interface TestS3 {
  endpoint: string;
  client: S3Client;
  /** Uploads every file of a local bundle directory under `keyPrefix` ("models/tiny-core/0.1.0/"). */
  upload(dir: string, keyPrefix: string): Promise<void>;
  put(key: string, body: Uint8Array | string): Promise<void>;
  close(): Promise<void>;
}

/** A real S3-compatible server (s3rver) on a random localhost port, with one empty bucket. */
export async function startS3(): Promise<TestS3> {
  mkdirSync(CACHE, { recursive: true });
  const directory = mkdtempSync(join(CACHE, 's3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3Client({ endpoint, region: 'us-east-1', bucket: BUCKET, prefix: '', forcePathStyle: true, credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_KEY } });
  const put = async (key: string, body: Uint8Array | string) => {
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  };
  return {
    endpoint,
    client,
    put,
    async upload(dir, keyPrefix) {
      for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const path = join(entry.parentPath, entry.name);
        await put(keyPrefix + relative(dir, path), readFileSync(path));
      }
    },
    async close() {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
