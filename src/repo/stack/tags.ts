/**
 * The tags of a stack snapshot (docs/design.md, "Stack snapshots"): `lifeboat`,
 * `source:<name>`, `type:<type>`, `pre-restore` on a restore's safety snapshot, then the
 * user's tags. The only place these strings are spelled.
 */
import type { StackSnapshot } from '../../core/snapshot-store.ts';
import type { Snapshot } from '../snapshot/snapshot.ts';

export const STACK_TAG = 'lifeboat';
export const PRE_RESTORE_TAG = 'pre-restore';
const SOURCE = 'source:';
const TYPE = 'type:';

export function sourceTag(name: string): string {
  return `${SOURCE}${name}`;
}

/** The tags a stack snapshot of `source` is written with. */
export function stackTags(source: { name: string; type: string }, opts: { tags?: readonly string[]; isSafety?: boolean } = {}): string[] {
  return [STACK_TAG, sourceTag(source.name), `${TYPE}${source.type}`, ...(opts.isSafety ? [PRE_RESTORE_TAG] : []), ...(opts.tags ?? [])];
}

/** The source a snapshot holds, by its `source:` tag; undefined for a snapshot that is not a stack one. */
export function sourceOfTags(tags: readonly string[] | undefined): string | undefined {
  return tags?.find((t) => t.startsWith(SOURCE))?.slice(SOURCE.length);
}

/**
 * A repository snapshot as the port's StackSnapshot, or undefined when it holds no source.
 * A `source:` tag suffices (as lifeboat has always chosen snapshots), `lifeboat` is not required.
 */
export function toStackSnapshot(s: Snapshot): StackSnapshot | undefined {
  const source = sourceOfTags(s.tags);
  if (source === undefined) return undefined;
  const tags = s.tags ?? [];
  return { id: s.id, source, date: s.date, time: s.time, hostname: s.hostname, tags, isSafety: tags.includes(PRE_RESTORE_TAG) };
}
