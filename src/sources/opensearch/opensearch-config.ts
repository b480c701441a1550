/**
 * The keys of a `type: opensearch` source (OpenSearch, or Elasticsearch: the snapshot API is
 * the same). Credentials are secret references; a user or password inside the URL is refused.
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

const clusterUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, { error: 'a URL like http://127.0.0.1:9200 or https://search.internal:9200' })
  .refine((s) => new URL(s).username === '' && new URL(s).password === '', {
    error: 'no credentials in the URL: use username and password: { env: NAME } (or api_key)',
  });

const absolutePath = (what: string) => z.string().refine((s) => s.startsWith('/'), { error: `${what}: an absolute path` });

export const opensearchKeys = {
  url: clusterUrl,
  username: z.string().min(1).optional(),
  password: secretRefSchema.optional(),
  /** Sent as `Authorization: ApiKey <value>` (the base64 id:key Elasticsearch hands out). */
  api_key: secretRefSchema.optional(),
  /**
   * A directory inside the cluster's `path.repo`, as the cluster sees it. Each backup registers a
   * fresh fs repository below it, and lifeboat removes it after copying.
   */
  snapshot_dir: absolutePath('snapshot_dir'),
  /** The same directory as lifeboat sees it (a different mount point); default snapshot_dir. */
  local_snapshot_dir: absolutePath('local_snapshot_dir').optional(),
  /** Index names or patterns to back up; default every open, non-hidden index. */
  indices: z.array(z.string().min(1)).min(1).optional(),
  /** Include templates, persistent settings and other cluster state in the snapshot (default false). */
  include_global_state: z.boolean().optional(),
  /** What restore does with an index that exists: close it and restore over it, or delete it first (default close). */
  existing_indices: z.enum(['close', 'delete']).optional(),
};

export const opensearchConfigSchema = z.strictObject(opensearchKeys);
export type OpenSearchConfig = z.infer<typeof opensearchConfigSchema>;
