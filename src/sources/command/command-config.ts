/** lifeboat.yml keys of a `type: command` source. */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'an environment variable name (letters, digits, _)' });

export const commandKeys = {
  /** Run with bash -o pipefail -c (or /bin/sh -c without bash); its stdout is the backup. */
  backup_command: z.string().min(1),
  /** Run with bash -o pipefail -c (or /bin/sh -c without bash); gets the backup on stdin. */
  restore_command: z.string().min(1),
  /** Run with bash -o pipefail -c (or /bin/sh -c without bash); its stdout, trimmed, describes the live data. */
  fingerprint_command: z.string().min(1).optional(),
  /** Name of the stored artifact. */
  artifact: z
    .string()
    .regex(/^[\w@%+=:,.-]+(\/[\w@%+=:,.-]+)*$/, { error: 'a relative name such as "vault.snap" or "n8n/workflows.json"' })
    .refine((n) => !n.split('/').some((s) => s === '.' || s === '..'), { error: 'no "." or ".." segments' })
    .optional(),
  /** An empty backup_command output is a valid backup (otherwise it fails the backup). */
  allow_empty: z.boolean().optional(),
  /** Plain environment for the commands (no secrets here: lifeboat.yml is not secret). */
  env: z.record(envName, z.string()).optional(),
  /** Secrets resolved into the commands' environment. */
  secret_env: z.record(envName, secretRefSchema).optional(),
};

export const commandConfigSchema = z.strictObject(commandKeys);
export type CommandConfig = z.infer<typeof commandConfigSchema>;
