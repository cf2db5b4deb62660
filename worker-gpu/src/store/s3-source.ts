import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { BundleSource } from '../../../shared/bundle';
import type { WorkerConfig } from '../config';

/** An S3 client for any S3-compatible server (path-style, no checksum framing on uploads). */
export function s3Client(cfg: WorkerConfig['s3']): S3Client {
  return new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    credentials: cfg.credentials,
    // Servers such as s3rver store aws-chunked framing verbatim unless checksums stay opt-in.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A bundle under an S3 key prefix ("…/models/tiny-core/0.1.0/"). Missing keys reject with name NoSuchKey. */
export function s3BundleSource(
  client: S3Client,
  bucket: string,
  keyPrefix: string,
  onRead?: (path: string, bytes: number) => void,
): BundleSource {
  return {
    location: `s3://${bucket}/${keyPrefix.replace(/\/$/, '')}`,
    async read(path: string): Promise<Uint8Array> {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: keyPrefix + path }));
      const bytes = await res.Body!.transformToByteArray();
      onRead?.(path, bytes.byteLength);
      return bytes;
    },
  };
}
