/**
 * The keys of a `type: neo4j` source (Neo4j 5, Community or Enterprise). Commands are argv
 * arrays run without a shell: `neo4j-admin` and the commands that stop and start the DBMS
 * (`systemctl stop neo4j`, `docker stop neo4j`), since Community can only dump an offline DBMS.
 * `mode: online` exports through Bolt instead (`url: bolt://…`) and needs no commands; which
 * keys each mode needs is checked when the source is created.
 */
import { z } from 'zod';
import { durationSchema, secretRefSchema } from '../source-kit.ts';

export const HTTP_SCHEMES = ['http:', 'https:'];
export const BOLT_SCHEMES = ['bolt:', 'bolt+s:', 'bolt+ssc:', 'neo4j:', 'neo4j+s:', 'neo4j+ssc:'];
const URL_SCHEMES = [...HTTP_SCHEMES, ...BOLT_SCHEMES];

const argv = (what: string) => z.array(z.string().min(1)).min(1, { error: `${what}: a command as a list, e.g. [systemctl, stop, neo4j]` });

export const neo4jKeys = {
  /** offline (default): neo4j-admin dumps of the stopped DBMS; online: a logical export through Bolt while it runs. */
  mode: z.enum(['offline', 'online']).optional(),
  /** offline: the HTTP endpoint, for the fingerprint and to wait until the DBMS is back; online: the Bolt URL. */
  url: z.string().refine((s) => {
    try {
      const u = new URL(s);
      return URL_SCHEMES.includes(u.protocol) && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  }, { error: 'http://127.0.0.1:7474 (offline mode) or bolt://127.0.0.1:7687 (online mode), without credentials (use username and password)' }),
  username: z.string().min(1).optional(),
  password: secretRefSchema.optional(),
  /** Databases to dump, in order; default system and neo4j (users and roles live in system). */
  databases: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, { error: 'a Neo4j database name' })).min(1).optional(),
  /** How to run neo4j-admin (default [neo4j-admin]), e.g. [docker, run, --rm, -i, -v, "data:/data", "neo4j:5.26", neo4j-admin]. */
  admin_command: argv('admin_command').optional(),
  /** offline mode (required there): stops the whole DBMS. */
  stop_command: argv('stop_command').optional(),
  /** offline mode (required there): starts it again. */
  start_command: argv('start_command').optional(),
  /** online mode: a restore into a database that holds nodes deletes them (and its constraints and indexes) first, instead of refusing. */
  clear_before_restore: z.boolean().optional(),
  /** How long stop_command and start_command may run, and the wait for the DBMS after start_command (default 3m). */
  start_timeout: durationSchema.optional(),
};

export const neo4jConfigSchema = z.strictObject(neo4jKeys);
export type Neo4jConfig = z.infer<typeof neo4jConfigSchema>;
