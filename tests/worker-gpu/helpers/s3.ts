import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BUCKET, S3_KEY, startS3 as startStackS3, type StackS3 } from '../../../tools/stack/s3';
import { CACHE } from '../../helpers/paths';

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
