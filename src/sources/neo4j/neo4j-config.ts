/**
 * The keys of a `type: neo4j` source (Neo4j 5, Community or Enterprise). Commands are argv
 * arrays run without a shell: `neo4j-admin` and the commands that stop and start the DBMS
 * (`systemctl stop neo4j`, `docker stop neo4j`), since Community can only dump an offline DBMS.
 */
import { z } from 'zod';
import { durationSchema, secretRefSchema } from '../source-kit.ts';

const argv = (what: string) => z.array(z.string().min(1)).min(1, { error: `${what}: a command as a list, e.g. [systemctl, stop, neo4j]` });

export const neo4jKeys = {
  /** The HTTP endpoint, for the fingerprint and to wait until the DBMS is back. */
  url: z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  }, { error: 'the HTTP URL like http://127.0.0.1:7474, without credentials (use username and password)' }),
  username: z.string().min(1).optional(),
  password: secretRefSchema.optional(),
  /** Databases to dump, in order; default system and neo4j (users and roles live in system). */
  databases: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, { error: 'a Neo4j database name' })).min(1).optional(),
  /** How to run neo4j-admin (default [neo4j-admin]), e.g. [docker, run, --rm, -i, -v, "data:/data", "neo4j:5.26", neo4j-admin]. */
  admin_command: argv('admin_command').optional(),
  stop_command: argv('stop_command'),
  start_command: argv('start_command'),
  /** How long stop_command and start_command may run, and the wait for the DBMS after start_command (default 3m). */
  start_timeout: durationSchema.optional(),
};

export const neo4jConfigSchema = z.strictObject(neo4jKeys);
export type Neo4jConfig = z.infer<typeof neo4jConfigSchema>;
