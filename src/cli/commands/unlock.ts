/** `lifeboat unlock [--remove-all]`: removes stale locks. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { removeLocks } from '../../repo/lock/lock.ts';

export function registerUnlock(program: Command, ctx: CliContext): void {
  program
    .command('unlock')
    .description('remove stale locks (from processes that are gone or older than 30 minutes)')
    .option('--remove-all', 'remove all locks, even active ones')
    .action(async (flags: { removeAll?: boolean }) => {
      await withRepository(ctx, { lock: 'none', loadIndex: false }, async ({ repo }) => {
        const removed = await removeLocks(repo, { all: flags.removeAll, signal: ctx.signal });
        ctx.out.result({ message_type: 'unlocked', removed });
        ctx.out.line(removed.length === 0 ? 'no stale locks' : `removed ${removed.length} lock(s)`);
      });
    });
}
