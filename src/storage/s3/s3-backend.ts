/** `s3:https://host/bucket/prefix`: S3 and compatible object stores (MinIO, Ceph, R2). */
import type { StorageBackend } from '../backend.ts';
import { parseS3Url } from './s3-url.ts';

export const s3Backend: StorageBackend = {
  scheme: 's3',
  example: 's3:https://host/bucket/prefix',
  isRemote: true,
  parse: (location) => void parseS3Url(location),
  // Credentials come from the SDK's default chain, never from the URL: nothing to hide.
  redact: (location) => location,
  async open(location) {
    // Loaded lazily: the AWS SDK takes a few hundred ms to import and only s3: needs it.
    const { createS3Storage } = await import('./s3-storage.ts');
    return createS3Storage(parseS3Url(location));
  },
};
