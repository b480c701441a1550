/** `lifeboat init`: creates a repository (restic format v2). */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { initRepository } from '../../app/open-repository.ts';
import { repoTarget } from '../repo-access.ts';

export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('create a new repository')
    .action(async () => {
      const r = await initRepository(repoTarget(ctx), { signal: ctx.signal });
      ctx.out.result({ message_type: 'initialized', id: r.id, repository: r.location, version: r.version, key_id: r.keyId });
      ctx.out.line(`created lifeboat repository ${r.id.slice(0, 10)} at ${r.location} (format version ${r.version})`);
      ctx.out.line('');
      ctx.out.line('Keep the password safe: losing it means losing the data in the repository.');
    });
}
