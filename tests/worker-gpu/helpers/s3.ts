import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BUCKET, S3_KEY, startS3 as startStackS3, type StackS3 } from '../../../tools/stack/s3';
import { CACHE, ROOT } from '../../helpers/paths';

export { BUCKET, S3_KEY };
export type TestS3 = StackS3;

/** The stack's s3rver on a random localhost port, in a per-test directory removed on close. */
export async function startS3(): Promise<TestS3> {
  mkdirSync(CACHE, { recursive: true });
  const directory = mkdtempSync(join(CACHE, 's3rver-'));
  const s3 = await startStackS3(0, directory);
  return {
    ...s3,
    async close() {
      await s3.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The test S3 server with the tests' core model, tiny-core, at models/tiny-core/0.1.0/ (what test workers load by default). */
export async function startS3WithTinyCore(): Promise<TestS3> {
  const s3 = await startS3();
  await s3.upload(join(ROOT, 'models/tiny-core'), 'models/tiny-core/0.1.0/');
  return s3;
}
