/**
 * The `mysql` source's own keys in lifeboat.yml (MySQL and MariaDB alike):
 *
 *   shop-db:
 *     type: mysql
 *     connection: { host: mariadb, user: backup, password: { file: /run/secrets/db } }
 *     databases: [shop]               # or 'all' (the default)
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

export const mysqlKeys = {
  connection: z.strictObject({
    /** Host name or IP; connections go over TCP unless `socket` is set. */
    host: z.string().min(1).default('localhost'),
    port: z.int().min(1).max(65535).default(3306),
    user: z.string().min(1).default('root'),
    password: secretRefSchema.optional(),
    /** Unix socket path; when set, the connection uses it instead of TCP. */
    socket: z.string().min(1).optional(),
  }),
  /** 'all': every database except information_schema, performance_schema, mysql and sys. */
  databases: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]).default('all'),
  /** Where mariadb-dump/mysqldump and mariadb/mysql live; default PATH. */
  bin_dir: z.string().min(1).optional(),
};

/** Parses only the mysql keys of a source config (common keys are ignored, defaults applied). */
export const mysqlConfigSchema = z.object(mysqlKeys);
export type MysqlConfig = z.infer<typeof mysqlConfigSchema>;
export type MysqlConfigInput = z.input<typeof mysqlConfigSchema>;
