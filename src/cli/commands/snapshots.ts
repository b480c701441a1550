/**
 * `lifeboat snapshots`: lists snapshots, filtered like restic's. A snapshot file that cannot
 * be read is warned about as restic does, but unlike restic the command then fails naming
 * them (exit 5 when they are damaged): a listing that silently lacks a backup is a false "ok".
 */
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { listSnapshots, matchesFilter } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import { groupSnapshots } from '../../ops/retention-policy.ts';
import { collect, parseGroupBy, tagGroups } from './common.ts';
import { IntegrityError, LifeboatError, errorMessage } from '../../core/errors.ts';
import { formatLocal } from '../../util/time.ts';

export function registerSnapshots(program: Command, ctx: CliContext): void {
  program
    .command('snapshots')
    .description('list snapshots')
    .option('--host <host>', 'only snapshots of this host (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags (a,b = both; repeat for either)', collect, [])
    .option('--path <path>', 'only snapshots of this path (repeatable)', collect, [])
    .option('--latest <n>', 'only the latest n snapshots of each host and path set, as restic', parseLatest)
    .option('-g, --group-by <fields>', 'list in groups of host, paths, tags (comma separated), as restic')
    .action(async (flags: { host: string[]; tag: string[]; path: string[]; latest?: number; groupBy?: string }) => {
      await withRepository(ctx, { lock: 'none', loadIndex: false }, async ({ repo }) => {
        const unreadable: Array<{ id: string; err: unknown }> = [];
        const onError = (id: string, err: unknown): void => {
          unreadable.push({ id, err });
          ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${errorMessage(err)}`);
        };
        let snaps = (await listSnapshots(repo, { signal: ctx.signal, onError })).filter((s) => matchesFilter(s, { hosts: flags.host, tags: tagGroups(flags.tag), paths: flags.path }));
        if (flags.latest !== undefined) snaps = latestOfEach(snaps, flags.latest);
        const asJson = (list: Snapshot[]) => list.map((s) => ({ ...s, date: undefined, short_id: s.id.slice(0, 8) }));
        const table = (list: Snapshot[]) => {
          ctx.out.table(
            ['ID', 'Time', 'Host', 'Tags', 'Paths'],
            list.map((s) => [s.id.slice(0, 8), formatLocal(s.date), s.hostname ?? '', (s.tags ?? []).join(','), s.paths.join(', ')]),
          );
          ctx.out.line(`${list.length} snapshots`);
        };
        if (flags.groupBy === undefined || flags.groupBy === '') {
          ctx.out.result(asJson(snaps));
          table(snaps);
        } else {
          const groups = [...groupSnapshots(snaps, parseGroupBy(flags.groupBy))];
          ctx.out.result(groups.map(([key, list]) => ({ group_key: JSON.parse(key) as unknown, snapshots: asJson(list) })));
          for (const [key, list] of groups) {
            const k = JSON.parse(key) as { hostname: string; paths: string[] | null; tags: string[] | null };
            const what = [k.hostname ? `host [${k.hostname}]` : '', k.paths ? `paths [${k.paths.join(', ')}]` : '', k.tags ? `tags [${k.tags.join(', ')}]` : ''].filter(Boolean);
            ctx.out.line(`snapshots for (${what.join(', ')}):`);
            table(list);
            ctx.out.line();
          }
        }
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

function parseLatest(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${v}" is not a positive whole number`);
  return n;
}

/**
 * restic's `--latest N` (FilterLatestSnapshots): the newest N of each host and set of paths,
 * listed oldest first.
 */
export function latestOfEach(snaps: readonly Snapshot[], n: number): Snapshot[] {
  const newestFirst = [...snaps].sort((a, b) => b.date.getTime() - a.date.getTime());
  const seen = new Map<string, number>();
  const out: Snapshot[] = [];
  for (const s of newestFirst) {
    const key = JSON.stringify([s.hostname ?? '', [...s.paths].sort()]);
    const count = seen.get(key) ?? 0;
    if (count >= n) continue;
    seen.set(key, count + 1);
    out.push(s);
  }
  return out.sort((a, b) => a.date.getTime() - b.date.getTime() || a.id.localeCompare(b.id));
}
