/** `lifeboat snapshots`: lists snapshots, filtered like restic's. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { listSnapshots, matchesFilter } from '../../repo/snapshot/snapshot.ts';
import { collect, tagGroups } from './common.ts';

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
        let snaps = (
          await listSnapshots(repo, { signal: ctx.signal, onError: (id, err) => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${(err as Error).message}`) })
        ).filter((s) => matchesFilter(s, { hosts: flags.host, tags: tagGroups(flags.tag), paths: flags.path }));
        if (flags.latest !== undefined) snaps = snaps.slice(-flags.latest);
        ctx.out.result(snaps.map((s) => ({ ...s, date: undefined, short_id: s.id.slice(0, 8) })));
        ctx.out.table(
          ['ID', 'Time', 'Host', 'Tags', 'Paths'],
          snaps.map((s) => [s.id.slice(0, 8), s.date.toISOString().replace('T', ' ').slice(0, 19), s.hostname ?? '', (s.tags ?? []).join(','), s.paths.join(', ')]),
        );
        ctx.out.line(`${snaps.length} snapshots`);
      });
    });
}
