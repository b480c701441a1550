/**
 * The keys of a `type: gitea` source: a Gitea (or Forgejo) instance whose `gitea` CLI lifeboat
 * runs where Gitea lives (this host, or its container through `container` / `compose`). The
 * API token (for the fingerprint) is a secret reference, never an inline value.
 *
 *   gitea:
 *     type: gitea
 *     container: gitea
 *     config: /data/gitea/conf/app.ini
 *     user: git
 *     url: http://127.0.0.1:3000
 *     token: { env: GITEA_TOKEN }
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

const absolute = z.string().min(1).refine((p) => p.startsWith('/'), { error: 'must be an absolute path' });

export const giteaUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.username === '' && u.password === '' && u.search === '';
  } catch {
    return false;
  }
}, { error: 'a URL like http://gitea:3000 (no credentials in it: use token)' });

export const giteaKeys = {
  /** The gitea (or forgejo) binary where Gitea lives (not resolved against lifeboat.yml: it may be in a container). */
  bin: z.string().min(1).optional().describe('default gitea'),
  /** Gitea's app.ini (its --config), as Gitea sees it. */
  config: absolute,
  /** Gitea's work path (--work-path); default: WORK_PATH of app.ini. */
  work_path: absolute.optional(),
  /** The account Gitea runs as (RUN_USER): its CLI runs as it (through su), restored files are given to it. */
  user: z.string().regex(/^[a-z_][a-z0-9_.-]*$/i, { error: 'a user name' }).optional(),
  /** Gitea's HTTP address, for the fingerprint and to wait for it after a restore. */
  url: giteaUrl,
  /** An API token of an admin (scopes read:admin, read:repository, read:organization, read:user). */
  token: secretRefSchema,
  /**
   * Leave the database out of the dump (gitea dump --skip-db): for a Gitea on PostgreSQL or
   * MySQL, backed up by a source of its own; the restore then leaves the database alone.
   */
  skip_database: z.boolean().optional(),
  /** Run (bash -c, where Gitea lives) to stop Gitea before a restore and to start it after. */
  stop_command: z.string().min(1).optional(),
  start_command: z.string().min(1).optional(),
};

export const giteaConfigSchema = z.strictObject(giteaKeys);
export type GiteaConfig = z.infer<typeof giteaConfigSchema>;
