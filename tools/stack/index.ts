/** The local serving stack (s3rver + GPU workers + wrangler dev) that `npm start`, the e2e tests and bench:edge bring up. */
export { LocalStack, StackStoppedError, workerProvider, type LocalStackOptions, type LocalStackPorts, type TenantBundle } from './stack';
export { defaultBundleDir, findBundles, readBundle, type LocalBundle } from './models';
export { assertPortFree, freePort, PortBusyError } from './ports';
export { spawnGroup, waitFor, type GroupProcess } from './process-group';
export { BUCKET, S3_KEY, startS3, type StackS3 } from './s3';
export { ROOT } from './paths';
export type { WorkerProcess } from './worker';
export type { EdgeProcess } from './edge';
