import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { s3Client } from '../../worker-gpu/src/store/s3-source';

export const BUCKET = 'models';
/** s3rver accepts this fixed key pair. */
export const S3_KEY = 'S3RVER';

export interface StackS3 {
  endpoint: string;
  client: S3Client;
  /** Uploads every file of a local directory under `keyPrefix` ("models/tiny-core/0.1.0/"). */
  upload(dir: string, keyPrefix: string): Promise<void>;
  put(key: string, body: Uint8Array | string): Promise<void>;
  close(): Promise<void>;
}

/** An S3-compatible server (s3rver, in this process) on 127.0.0.1:`port` (0 = any), storing under `directory`, with one bucket. */
export async function startS3(port: number, directory: string): Promise<StackS3> {
  let S3rver: typeof import('s3rver').default;
  try {
    S3rver = (await import('s3rver')).default;
  } catch (err) {
    throw new Error(`s3rver is not installed (${(err as Error).message}); run \`npm ci\` first`);
  }
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET }] });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = s3Client({
    endpoint,
    region: 'us-east-1',
    bucket: BUCKET,
    prefix: '',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_KEY },
  });
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
    },
  };
}

/** The environment a GPU worker needs to read this server's bucket. */
export function s3WorkerEnv(s3: StackS3): Record<string, string> {
  return { S3_ENDPOINT: s3.endpoint, S3_BUCKET: BUCKET, AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_KEY };
}
