/**
 * The keys of a `type: s3` source: one bucket (or a prefix of it) of MinIO or any S3-compatible
 * server, backed up object by object. The keys are secret references.
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

export const s3Keys = {
  /** The S3 endpoint, e.g. http://minio:9000; omitted for AWS. */
  endpoint: z.string().url().optional(),
  region: z.string().min(1).optional(),
  bucket: z.string().min(3).max(63),
  /** Only keys under this prefix are backed up and restored. */
  prefix: z.string().optional(),
  access_key_id: secretRefSchema,
  secret_access_key: secretRefSchema,
  /**
   * `latest` (default): the current version of each key. `all`: every version and delete
   * marker (ListObjectVersions), restored oldest first into a bucket with versioning on.
   */
  versions: z.enum(['latest', 'all']).optional(),
  /** Path-style addressing (default: on when endpoint is set, as MinIO needs). */
  force_path_style: z.boolean().optional(),
};

export const s3ConfigSchema = z.strictObject(s3Keys);
export type S3SourceConfig = z.infer<typeof s3ConfigSchema>;
