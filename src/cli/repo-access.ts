/**
 * Opening the repository for one command. The repository is the one named by -r/--repo or
 * LIFEBOAT_REPOSITORY (password from --password-file etc.); without either, the repository of
 * lifeboat.yml (-c, LIFEBOAT_CONFIG, ./lifeboat.yml) with the password it references.
 */
import { existsSync } from 'node:fs';
import { openRepository, openRepositoryAt } from '../app/open-repository.ts';
import type { LockMode, LockWait, OpenedRepository, RepoTarget } from '../app/open-repository.ts';
import type { CliContext } from './context.ts';

export function repoTarget(ctx: CliContext): RepoTarget {
  const g = ctx.globals();
  return { repo: g.repo, passwordFile: g.passwordFile, passwordCommand: g.passwordCommand, env: ctx.env };
}

/** True when the command should take its repository from lifeboat.yml. */
export function usesConfigRepository(ctx: CliContext): boolean {
  const g = ctx.globals();
  if (g.repo || ctx.env.LIFEBOAT_REPOSITORY) return false;
  return Boolean(g.config || ctx.env.LIFEBOAT_CONFIG || existsSync('lifeboat.yml'));
}

/** `--retry-lock` and where the note that a run waits for a lock goes. */
export function lockWait(ctx: CliContext): LockWait {
  return { retryLockMs: ctx.globals().retryLockMs, onLockWait: (m) => ctx.out.warn(m) };
}

export async function withRepository<T>(
  ctx: CliContext,
  opts: { lock: LockMode; loadIndex?: boolean },
  fn: (opened: OpenedRepository) => Promise<T>,
): Promise<T> {
  let opened: OpenedRepository;
  if (usesConfigRepository(ctx)) {
    // Loaded only when lifeboat.yml is used: it pulls in every source adapter and the schema.
    const { openStack } = await import('../app/stack.ts');
    const stack = await openStack({ configFile: ctx.globals().config, env: ctx.env, signal: ctx.signal, log: { info: () => undefined, warn: (m) => ctx.out.warn(m) } });
    const password = await stack.secrets(stack.loaded.config.repository.password, 'repository.password');
    opened = await openRepositoryAt(stack.repositoryLocation(), password, { ...lockWait(ctx), lock: opts.lock, loadIndex: opts.loadIndex, signal: ctx.signal, env: ctx.env });
  } else {
    opened = await openRepository(repoTarget(ctx), { ...lockWait(ctx), lock: opts.lock, loadIndex: opts.loadIndex, signal: ctx.signal });
  }
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}
