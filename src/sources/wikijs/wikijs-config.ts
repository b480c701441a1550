/**
 * lifeboat.yml keys of a `type: wikijs` source: Wiki.js 2.x on PostgreSQL. Everything Wiki.js
 * keeps (pages, users, comments, uploaded assets) is in its database (requarks/wiki#2715,
 * #1589); the git storage module's local clone and config.yml are stored beside it.
 *
 *   wiki:
 *     type: wikijs
 *     database:
 *       connection: { host: postgres, user: wikijs, password: { env: WIKIJS_DB_PASS } }
 *       name: wikijs
 *     git_storage: /srv/wikijs/data/repo
 *     config_file: /srv/wikijs/config.yml
 */
import path from 'node:path';
import { z } from 'zod';

const absolutePath = z.string().min(1).refine((p) => path.isAbsolute(p), { error: 'must be an absolute path' });

/**
 * The keys, given the postgres source's `connection` schema (handed in by the registry: one
 * source folder never imports another).
 */
export function wikijsKeys(connection: z.ZodType) {
  return {
    /** Wiki.js's PostgreSQL database (`db` in its config.yml). */
    database: z.strictObject({
      connection,
      name: z.string().min(1).default('wikijs'),
      /** Where pg_dump, pg_restore and psql live (as the postgres source's bin_dir). */
      bin_dir: z.string().min(1).optional(),
    }),
    /** The local clone of the git storage module (its "Local Repository Path"), when git sync is on. */
    git_storage: absolutePath.optional(),
    /** Wiki.js's config.yml (the database connection; no data). */
    config_file: absolutePath.optional(),
  };
}

export interface WikijsConfig {
  readonly database: { readonly connection: unknown; readonly name: string; readonly bin_dir?: string };
  readonly git_storage?: string;
  readonly config_file?: string;
}
