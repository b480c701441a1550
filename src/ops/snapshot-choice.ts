/**
 * Which stack snapshot a restore, verify or drill works on: the one given by ID, else each
 * source's latest (at a time, of some hosts). Like restic, no host is preferred by default: on
 * a shared repository the caller shows each snapshot's host so a restore from another
 * machine's backup is never silent. Safety snapshots hold what a restore replaced: they are
 * chosen only by ID, never as "latest", or undoing a restore would be what the next restore or
 * drill picks.
 */
import { NotFoundError, UsageError } from '../core/errors.ts';
import type { StackSnapshot } from '../core/snapshot-store.ts';

export interface SnapshotRequest {
  /** A snapshot ID or unique prefix; "latest" or absent: the latest per source. */
  snapshot?: string;
  /** Only snapshots taken at or before this time. */
  at?: Date;
  /** Only snapshots of these hosts (any of them); empty or absent: any host. */
  hosts?: readonly string[];
}

/** The chosen snapshot per source name; sources without one are absent. `all` is oldest first. */
export function chooseSnapshots(all: readonly StackSnapshot[], names: readonly string[], req: SnapshotRequest): Map<string, StackSnapshot> {
  const chosen = new Map<string, StackSnapshot>();
  if (req.snapshot && req.snapshot !== 'latest') {
    const ref = req.snapshot;
    const matches = all.filter((s) => s.id.startsWith(ref));
    if (matches.length !== 1) throw new NotFoundError(matches.length === 0 ? `no snapshot with ID ${ref}` : `snapshot ID ${ref} is ambiguous`);
    const snap = matches[0] as StackSnapshot;
    if (!names.includes(snap.source)) throw new UsageError(`snapshot ${ref} is not a snapshot of ${names.join(', ')}`, { hint: 'use --only with the snapshot\'s source' });
    chosen.set(snap.source, snap);
    return chosen;
  }
  for (const n of names) {
    const mine = all.filter((s) => s.source === n
      && !s.isSafety
      && (!req.at || s.date.getTime() <= (req.at as Date).getTime())
      && (!req.hosts?.length || req.hosts.includes(s.hostname ?? '')));
    const last = mine.at(-1);
    if (last) chosen.set(n, last);
  }
  return chosen;
}

/** The newest backup of each of `names` (safety snapshots are not backups), for reports. */
export function latestPerSource(all: readonly StackSnapshot[], names: readonly string[]): Map<string, StackSnapshot> {
  return chooseSnapshots(all, names, {});
}

/** Snapshots of the given sources (backups and safety snapshots), oldest first. */
export function snapshotsOfSources(all: readonly StackSnapshot[], names: readonly string[]): StackSnapshot[] {
  const wanted = new Set(names);
  return all.filter((s) => wanted.has(s.source));
}
