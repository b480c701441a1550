/** `lifeboat dump SNAPSHOT PATH`: writes one file of a snapshot to stdout. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot } from '../../repo/snapshot/snapshot.ts';
import { Restorer } from '../../repo/restorer.ts';
import { UsageError } from '../../core/errors.ts';
import { addLatestFilterOptions, latestFilter } from './common.ts';
import { asDamage } from '../exit-codes.ts';
import type { LatestFilterFlags } from './common.ts';

export function registerDump(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('dump')
    .description('write a file of a snapshot to standard output')
    .argument('<snapshot>', 'snapshot ID (or prefix) or "latest"')
    .argument('<path>', 'path of the file inside the snapshot');
  addLatestFilterOptions(cmd)
    .action(async (ref: string, file: string, flags: LatestFilterFlags) => {
      await withRepository(ctx, { lock: 'shared' }, async ({ repo }) => {
        const snap = await findSnapshot(repo, ref, latestFilter(flags), { signal: ctx.signal });
        const restorer = new Restorer(repo, { signal: ctx.signal });
        try {
          const node = await restorer.findNode(snap.tree, file);
          if (node.type !== 'file') throw new UsageError(`${file} is a ${node.type}, not a file`, { hint: 'use "lifeboat restore --include PATH" for directories' });
          await restorer.dump(node, ctx.out.stdout);
        } catch (err) {
          throw asDamage(err);
        }
      });
    });
}
