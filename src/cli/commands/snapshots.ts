/**
 * `lifeboat snapshots`: lists snapshots, filtered like restic's. A snapshot file that cannot
 * be read is warned about as restic does, but unlike restic the command then fails naming
 * them (exit 5 when they are damaged): a listing that silently lacks a backup is a false "ok".
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { listSnapshots, matchesFilter } from '../../repo/snapshot/snapshot.ts';
import { collect, tagGroups } from './common.ts';
import { IntegrityError, LifeboatError, errorMessage } from '../../core/errors.ts';
import { formatLocal } from '../../util/time.ts';

export function registerSnapshots(program: Command, ctx: CliContext): void {
  program
    .command('snapshots')
    .description('list snapshots')
    .option('--host <host>', 'only snapshots of this host (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags (a,b = both; repeat for either)', collect, [])
    .option('--path <path>', 'only snapshots of this path (repeatable)', collect, [])
    .option('--latest <n>', 'only the latest n snapshots', (v) => Number.parseInt(v, 10))
    .action(async (flags: { host: string[]; tag: string[]; path: string[]; latest?: number }) => {
      await withRepository(ctx, { lock: 'none', loadIndex: false }, async ({ repo }) => {
        const unreadable: Array<{ id: string; err: unknown }> = [];
        const onError = (id: string, err: unknown): void => {
          unreadable.push({ id, err });
          ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${errorMessage(err)}`);
        };
        let snaps = (await listSnapshots(repo, { signal: ctx.signal, onError })).filter((s) => matchesFilter(s, { hosts: flags.host, tags: tagGroups(flags.tag), paths: flags.path }));
        if (flags.latest !== undefined) snaps = snaps.slice(-flags.latest);
        ctx.out.result(snaps.map((s) => ({ ...s, date: undefined, short_id: s.id.slice(0, 8) })));
        ctx.out.table(
          ['ID', 'Time', 'Host', 'Tags', 'Paths'],
          snaps.map((s) => [s.id.slice(0, 8), formatLocal(s.date), s.hostname ?? '', (s.tags ?? []).join(','), s.paths.join(', ')]),
        );
        ctx.out.line(`${snaps.length} snapshots`);
        if (unreadable.length > 0) {
          const ids = unreadable.map((u) => u.id);
          const message = `${ids.length} snapshot file${ids.length === 1 ? '' : 's'} cannot be read: ${ids.map((id) => id.slice(0, 8)).join(', ')}`;
          const opts = { data: { unreadable: ids }, hint: 'run "lifeboat check" to see the damage; the listing above shows only the readable snapshots' };
          // Damaged (MAC, JSON, missing fields) is an integrity failure; an I/O error is a plain one.
          const damaged = unreadable.every((u) => u.err instanceof LifeboatError && u.err.code === 'integrity' || u.err instanceof SyntaxError);
          throw damaged ? new IntegrityError(message, opts) : new LifeboatError('snapshots_unreadable', message, opts);
        }
      });
    });
}
