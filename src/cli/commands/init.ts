/** `lifeboat init`: creates a repository (restic format v2). */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { initRepository, initRepositoryAt } from '../../app/open-repository.ts';
import { withStack } from '../stack-access.ts';
import { repoTarget, usesConfigRepository } from '../repo-access.ts';

export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('create a new repository')
    .action(async () => {
      const t = repoTarget(ctx);
      // Without -r/LIFEBOAT_REPOSITORY, take the repository of lifeboat.yml.
      const r = usesConfigRepository(ctx)
        ? await withStack(ctx, async (stack) => initRepositoryAt(stack.repositoryLocation(), await stack.secrets(stack.loaded.config.repository.password, 'repository.password'), { signal: ctx.signal, env: ctx.env }))
        : await initRepository(t, { signal: ctx.signal });
      ctx.out.result({ message_type: 'initialized', id: r.id, repository: r.location, version: r.version, key_id: r.keyId });
      ctx.out.line(`created lifeboat repository ${r.id.slice(0, 10)} at ${r.location} (format version ${r.version})`);
      ctx.out.line('');
      ctx.out.line('Keep the password safe: losing it means losing the data in the repository.');
    });
}
