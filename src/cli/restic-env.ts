/**
 * restic's environment variables as fallbacks, so a restic user's environment works
 * unchanged: where lifeboat has its own variable, RESTIC_* is read only when no LIFEBOAT_* of
 * the same kind is set (LIFEBOAT_* wins, whole: a LIFEBOAT_PASSWORD is never overridden by a
 * RESTIC_PASSWORD_FILE, though restic itself would read the file first).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../core/errors.ts';

const PASSWORD_KINDS = ['PASSWORD_FILE', 'PASSWORD_COMMAND', 'PASSWORD'] as const;

/** `env` with LIFEBOAT_REPOSITORY and LIFEBOAT_PASSWORD* filled in from RESTIC_* where unset. */
export function withResticFallbacks(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  if (!env.LIFEBOAT_REPOSITORY) {
    if (env.RESTIC_REPOSITORY) out.LIFEBOAT_REPOSITORY = env.RESTIC_REPOSITORY;
    else if (env.RESTIC_REPOSITORY_FILE) out.LIFEBOAT_REPOSITORY = readRepositoryFile(env.RESTIC_REPOSITORY_FILE);
  }
  if (!PASSWORD_KINDS.some((k) => env[`LIFEBOAT_${k}`])) {
    for (const k of PASSWORD_KINDS) if (env[`RESTIC_${k}`]) out[`LIFEBOAT_${k}`] = env[`RESTIC_${k}`];
  }
  return out;
}

/** restic's --repository-file: the location on the file's first line. */
function readRepositoryFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read RESTIC_REPOSITORY_FILE ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const loc = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (loc === '') throw new UsageError(`RESTIC_REPOSITORY_FILE ${file} is empty`);
  return loc;
}
