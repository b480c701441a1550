/** `lifeboat tag --add|--remove|--set TAGS [ID…]`: restic's tag; every other field is kept. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot, listSnapshots, matchesFilter, replaceSnapshot, snapshotDocument } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import { collect, tagGroups } from './common.ts';

interface TagFlags {
  add: string[];
  remove: string[];
  set: string[];
  host: string[];
  tag: string[];
  path: string[];
}

export function registerTag(program: Command, ctx: CliContext): void {
  program
    .command('tag')
    .description('add, remove or set tags of snapshots')
    .argument('[snapshot...]', 'snapshot IDs (or prefixes, or "latest"); all matching the filters when none')
    .option('--add <tags>', 'tags to add, tag[,tag…] (repeatable)', collect, [])
    .option('--remove <tags>', 'tags to remove, tag[,tag…] (repeatable)', collect, [])
    .option('--set <tags>', 'tags that replace the existing ones, tag[,tag…] (repeatable; "" for none)', collect, [])
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot ID is given (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags, when no snapshot ID is given (repeatable)', collect, [])
    .option('--path <path>', 'only snapshots of this path, when no snapshot ID is given (repeatable)', collect, [])
    .action(async (refs: string[], f: TagFlags) => {
      const flat = (v: string[]): string[] => v.flatMap((s) => s.split(',')).filter(Boolean);
      const [add, remove, set] = [flat(f.add), flat(f.remove), flat(f.set)];
      if (f.set.length === 0 && add.length === 0 && remove.length === 0) throw new UsageError('nothing to do: give --add, --remove or --set');
      if (f.set.length > 0 && (add.length > 0 || remove.length > 0)) throw new UsageError('--set cannot be combined with --add or --remove');
      await withRepository(ctx, { lock: 'exclusive', loadIndex: false }, async ({ repo }) => {
        const filter = { hosts: f.host, tags: tagGroups(f.tag), paths: f.path };
        let snaps: Snapshot[];
        if (refs.length > 0) {
          snaps = [];
          for (const r of refs) snaps.push(await findSnapshot(repo, r, filter, { signal: ctx.signal }));
        } else {
          const warn = (id: string, err: unknown): void => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read, left as it is: ${(err as Error).message}`);
          snaps = (await listSnapshots(repo, { signal: ctx.signal, onError: warn })).filter((s) => matchesFilter(s, filter));
        }
        let changed = 0;
        for (const snap of snaps) {
          const tags = newTags(snap.tags ?? [], { add, remove, set: f.set.length > 0 ? set : undefined });
          if (sameTags(tags, snap.tags ?? [])) continue;
          const newId = await replaceSnapshot(repo, snap, { ...snapshotDocument(snap), tags }, { signal: ctx.signal });
          ctx.out.result({ message_type: 'changed', old_snapshot_id: snap.id, new_snapshot_id: newId });
          changed++;
        }
        ctx.out.result({ message_type: 'summary', changed_snapshots: changed });
        ctx.out.line(changed === 0 ? 'no snapshots were modified' : `modified tags on ${changed} snapshots`);
      });
    });
}

/** restic's order: --set replaces, then --add appends what is missing, then --remove. */
export function newTags(tags: readonly string[], op: { add: readonly string[]; remove: readonly string[]; set?: readonly string[] }): string[] {
  let out = op.set ? [...new Set(op.set)] : [...tags];
  for (const t of op.add) if (!out.includes(t)) out.push(t);
  out = out.filter((t) => !op.remove.includes(t));
  return out;
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
