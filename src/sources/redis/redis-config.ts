/**
 * The keys of a `type: redis` source (Redis or Valkey). The password is a secret reference;
 * a password inside the URL is refused so that it never sits in lifeboat.yml.
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

const redisUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, { error: 'a URL like redis://host:6379, redis://user@host:6379/0 or rediss://host:6380 (TLS)' })
  .refine((s) => new URL(s).password === '', { error: 'no password in the URL: use password: { env: NAME } (or file/command)' })
  .refine((s) => /^\/?(\d{1,5})?$/.test(new URL(s).pathname), { error: 'the URL path is a database number: redis://host:6379/0' });

export const redisKeys = {
  url: redisUrl,
  password: secretRefSchema.optional(),
  /** ACL user; also accepted as the URL's user part. */
  username: z.string().min(1).optional(),
  tls: z.strictObject({ ca_file: z.string().min(1).optional(), insecure: z.boolean().optional() }).optional(),
  /** online: load through a temporary replication master; data_dir: write dump.rdb while the server is stopped. */
  restore_mode: z.enum(['online', 'data_dir']).optional(),
  data_dir: z.string().min(1).optional(),
  redis_server_bin: z.string().min(1).optional(),
  sample_keys: z.int().nonnegative().max(100_000).optional(),
};

export const redisConfigSchema = z.strictObject(redisKeys).refine((c) => c.restore_mode !== 'data_dir' || c.data_dir !== undefined, {
  error: 'restore_mode: data_dir needs data_dir: the directory the server loads dump.rdb from',
  path: ['data_dir'],
});

export type RedisConfig = z.infer<typeof redisConfigSchema>;
