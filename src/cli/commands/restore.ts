/** `lifeboat restore SNAPSHOT --target DIR [--include PATH]`. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { LifeboatError, UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot } from '../../repo/snapshot/snapshot.ts';
import { Restorer } from '../../repo/restorer.ts';
import { formatBytes, formatDuration } from '../output.ts';
import { rateLine } from './common.ts';

export function registerRestore(program: Command, ctx: CliContext): void {
  program
    .command('restore')
    .description('restore a snapshot (or a path inside it) to a directory')
    .argument('<snapshot>', 'snapshot ID (or prefix) or "latest"')
    .requiredOption('-t, --target <dir>', 'directory to restore into')
    .option('-i, --include <path>', 'restore only this path of the snapshot')
    .action(async (ref: string, flags: { target: string; include?: string }) => {
      if (!flags.target) throw new UsageError('--target is required');
      const started = Date.now();
      await withRepository(ctx, { lock: 'shared' }, async ({ repo }) => {
        const snap = await findSnapshot(repo, ref, {}, { signal: ctx.signal });
        let last = 0;
        const restorer = new Restorer(repo, {
          signal: ctx.signal,
          include: flags.include,
          onProgress: (p) => {
            const now = Date.now();
            if (now - last < 200) return;
            last = now;
            ctx.out.progress(`restoring: ${p.files} files  ${rateLine(p.bytes, now - started)}  ${p.current ?? ''}`);
          },
        });
        const r = await restorer.restore(snap, flags.target);
        ctx.out.clearProgress();
        ctx.out.result({ message_type: 'summary', snapshot_id: snap.id, files_restored: r.files, dirs_restored: r.dirs, bytes_restored: r.bytes, errors: r.errors, total_duration: (Date.now() - started) / 1000 });
        for (const e of r.errors) ctx.out.warn(`${e.path}: ${e.message}`);
        ctx.out.line(`restored snapshot ${snap.id.slice(0, 8)} to ${flags.target}: ${r.files} files, ${r.dirs} dirs, ${formatBytes(r.bytes)} in ${formatDuration(Date.now() - started)}`);
        if (r.errors.length > 0) {
          const integrity = r.errors.some((e) => /damaged|hash|MAC|integrity/i.test(e.message));
          throw new LifeboatError(integrity ? 'integrity' : 'restore_incomplete', `restore incomplete: ${r.errors.length} files could not be restored (first: ${r.errors[0]?.path})`, {
            hint: integrity ? 'run "lifeboat check --read-data" to see the damage' : 'see the warnings above',
          });
        }
      });
    });
}
