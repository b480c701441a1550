/**
 * lifeboat.yml keys of a `type: n8n` source. n8n's CLI reads its database settings from the
 * environment (DB_TYPE, DB_POSTGRESDB_HOST…), so they go in `env` and, when secret, in
 * `secret_env`; the encryption key is a secret reference of its own.
 *
 *   n8n:
 *     type: n8n
 *     user_folder: /home/node             # N8N_USER_FOLDER: where .n8n (SQLite, config) lives
 *     encryption_key: { env: N8N_ENCRYPTION_KEY }
 *     env: { DB_TYPE: postgresdb, DB_POSTGRESDB_HOST: postgres, DB_POSTGRESDB_DATABASE: n8n }
 *     secret_env: { DB_POSTGRESDB_PASSWORD: { env: N8N_DB_PASSWORD } }
 */
import path from 'node:path';
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'an environment variable name (letters, digits, _)' });

export const n8nKeys = {
  /** The n8n CLI; a bare name is looked up in PATH. */
  n8n_bin: z.string().min(1).optional(),
  /** N8N_USER_FOLDER of the instance (its .n8n holds the SQLite database and the generated key). */
  user_folder: z.string().min(1).refine((p) => path.isAbsolute(p), { error: 'must be an absolute path' }).optional(),
  /** N8N_ENCRYPTION_KEY: the stored credentials are encrypted with it and useless without it. */
  encryption_key: secretRefSchema.optional(),
  /** Plain environment for the CLI (DB_TYPE, DB_POSTGRESDB_HOST…; no secrets here). */
  env: z.record(envName, z.string()).optional(),
  /** Secrets resolved into the CLI's environment (DB_POSTGRESDB_PASSWORD…). */
  secret_env: z.record(envName, secretRefSchema).optional(),
};

export const n8nConfigSchema = z.strictObject(n8nKeys);
export type N8nConfig = z.infer<typeof n8nConfigSchema>;
