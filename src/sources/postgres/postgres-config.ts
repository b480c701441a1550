/**
 * The `postgres` source's own keys in lifeboat.yml. A source dumps one or more databases of
 * one PostgreSQL server plus its globals (roles, tablespaces):
 *
 *   db:
 *     type: postgres
 *     connection: { host: db.internal, user: backup, password: { env: PGPASS } }
 *     databases: [app, shop]          # or 'all' (the default)
 *     exclude_tables: [public.audit_log, '*.tmp_*']
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

export const sslModes = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

export const postgresKeys = {
  connection: z.strictObject({
    /** Host name, IP address, or a socket directory (starts with "/"). */
    host: z.string().min(1),
    port: z.int().min(1).max(65535).default(5432),
    user: z.string().min(1).default('postgres'),
    password: secretRefSchema.optional(),
    sslmode: z.enum(sslModes).optional(),
  }),
  /**
   * 'all': every database that accepts connections and is not a template; the `postgres`
   * maintenance database only when it holds user objects (many setups leave it empty).
   */
  databases: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]).default('all'),
  /** Where pg_dump, pg_dumpall, pg_restore and psql live; default PATH, then /usr/lib/postgresql/<server major>/bin. */
  bin_dir: z.string().min(1).optional(),
  /** pg_restore --jobs. Above 1 the dump is staged to a temp file at restore (pg_restore -j needs a seekable file). */
  jobs: z.int().min(1).max(64).default(2),
  /** pg_dump --exclude-table patterns ("table", "schema.table", with * and ? wildcards), applied to every database. */
  exclude_tables: z.array(z.string().min(1)).optional(),
};

/** Parses only the postgres keys of a source config (common keys are ignored, defaults applied). */
export const postgresConfigSchema = z.object(postgresKeys);
export type PostgresConfig = z.infer<typeof postgresConfigSchema>;
/** What lifeboat.yml may say before defaults are applied. */
export type PostgresConfigInput = z.input<typeof postgresConfigSchema>;
