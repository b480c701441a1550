/** `lifeboat recover`: a snapshot of the trees no snapshot references (restic's recover). */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { findUnreferencedRoots, saveRecoverSnapshot } from '../../repo/repair/recover.ts';
import { VERSION } from '../../version.ts';

export function registerRecover(program: Command, ctx: CliContext): void {
  program
    .command('recover')
    .description('recover data not referenced by any snapshot, as a new snapshot of "/recover"')
    .action(async () => {
      await withRepository(ctx, { lock: 'exclusive' }, async ({ repo }) => {
        const r = await findUnreferencedRoots(repo, { signal: ctx.signal });
        for (const u of r.unreadable) ctx.out.warn(`unable to load tree ${u.id.slice(0, 8)}: ${u.error}`);
        ctx.out.line(`found ${r.roots.length} unreferenced roots`);
        if (r.roots.length === 0) {
          ctx.out.line('no snapshot to write.');
          ctx.out.result({ roots: [], snapshot_id: null });
          return;
        }
        const id = await saveRecoverSnapshot(repo, r.roots, { programVersion: `lifeboat ${VERSION}` }, { signal: ctx.signal });
        ctx.out.line(`saved new snapshot ${id.slice(0, 8)}`);
        ctx.out.result({ roots: r.roots, snapshot_id: id });
      });
    });
}
