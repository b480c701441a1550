/**
 * lifeboat.yml keys of a `type: qdrant` source. The api-key is a secret reference; a URL with
 * credentials in it is refused so that no key sits in lifeboat.yml.
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

const qdrantUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, { error: 'the REST URL of the server, like http://qdrant:6333 or https://qdrant.example.org' })
  .refine((s) => new URL(s).username === '' && new URL(s).password === '', { error: 'no credentials in the URL: use api_key: { env: NAME } (or file/command)' });

export const qdrantKeys = {
  url: qdrantUrl,
  api_key: secretRefSchema.optional(),
  /** Collections to back up; all collections of the server when absent. */
  collections: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Also store a full-storage snapshot (collections and aliases). Qdrant loads it only at
   * process start (`--storage-snapshot`), so a restore puts the collections back one by one.
   */
  full_snapshot: z.boolean().optional(),
};

export const qdrantConfigSchema = z.strictObject(qdrantKeys);
export type QdrantConfig = z.infer<typeof qdrantConfigSchema>;
