/** Small helpers shared by the command files. */
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import type { GroupBy } from '../../ops/retention-policy.ts';
import type { SnapshotFilter } from '../../repo/snapshot/snapshot.ts';
import { formatBytes } from '../output.ts';

/** commander option reducer for repeatable flags. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function rateLine(bytes: number, ms: number): string {
  const rate = ms > 0 ? (bytes / ms) * 1000 : 0;
  return `${formatBytes(bytes)} (${formatBytes(rate)}/s)`;
}

export function etaText(done: number, total: number, ms: number): string {
  if (done <= 0 || total <= done) return '';
  const left = ((total - done) / done) * ms;
  const s = Math.round(left / 1000);
  return `ETA ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Parses "--tag a,b --tag c" into groups [[a,b],[c]]. */
export function tagGroups(values: string[]): string[][] {
  return values.map((v) => v.split(',').filter(Boolean)).filter((g) => g.length > 0);
}

/** The flags that narrow which snapshot "latest" means, as restic's restore, dump and ls take them. */
export interface LatestFilterFlags {
  host: string[];
  tag: string[];
  path: string[];
}

export function addLatestFilterOptions(cmd: Command): Command {
  return cmd
    .option('--host <host>', 'with "latest": the latest snapshot of this host (repeatable)', collect, [])
    .option('--tag <tags>', 'with "latest": the latest snapshot with these tags (a,b = both; repeat for either)', collect, [])
    .option('--path <path>', 'with "latest": the latest snapshot of this path (repeatable: of all of them)', collect, []);
}

export function latestFilter(flags: LatestFilterFlags): SnapshotFilter {
  return { hosts: flags.host, tags: tagGroups(flags.tag), paths: flags.path };
}

/** restic's `--group-by host,paths,tags` (forget, snapshots). */
export function parseGroupBy(v: string): GroupBy {
  const by: GroupBy = {};
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === 'host') by.host = true;
    else if (part === 'paths') by.paths = true;
    else if (part === 'tags') by.tags = true;
    else throw new UsageError(`--group-by ${v}: unknown field "${part}" (use host, paths, tags)`);
  }
  return by;
}
