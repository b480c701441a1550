/** Opening the repository named by the global options, for the duration of one command. */
import { openRepository } from '../app/open-repository.ts';
import type { LockMode, OpenedRepository, RepoTarget } from '../app/open-repository.ts';
import type { CliContext } from './context.ts';

export function repoTarget(ctx: CliContext): RepoTarget {
  const g = ctx.globals();
  return { repo: g.repo, passwordFile: g.passwordFile, passwordCommand: g.passwordCommand, env: ctx.env };
}

export async function withRepository<T>(
  ctx: CliContext,
  opts: { lock: LockMode; loadIndex?: boolean },
  fn: (opened: OpenedRepository) => Promise<T>,
): Promise<T> {
  const opened = await openRepository(repoTarget(ctx), { lock: opts.lock, loadIndex: opts.loadIndex, signal: ctx.signal });
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}
