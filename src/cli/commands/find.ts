/** `lifeboat find PATTERN…` (or `--blob/--tree/--pack ID…`): restic's find, same JSON. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot, listSnapshots, matchesFilter } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import type { Repository } from '../../repo/repository.ts';
import { findNodes, findObjects, goModeString, matchJSON } from '../../repo/find/finder.ts';
import type { ObjectHit } from '../../repo/find/finder.ts';
import { parsePattern } from '../../repo/filter/restic-pattern.ts';
import { TreeStore } from '../../repo/tree/tree-io.ts';
import { collect, tagGroups } from './common.ts';

interface FindFlags {
  blob?: boolean;
  tree?: boolean;
  pack?: boolean;
  showPackId?: boolean;
  ignoreCase?: boolean;
  long?: boolean;
  oldest?: string;
  newest?: string;
  snapshot: string[];
  host: string[];
  tag: string[];
  path: string[];
}

export function registerFind(program: Command, ctx: CliContext): void {
  program
    .command('find')
    .description('find files, directories, blobs or trees in snapshots')
    .argument('<pattern...>', 'restic path patterns (or IDs with --blob, --tree, --pack)')
    .option('--blob', 'pattern is a blob ID')
    .option('--tree', 'pattern is a tree ID')
    .option('--pack', 'pattern is a pack ID')
    .option('--show-pack-id', 'display the pack ID the blobs belong to (with --blob or --tree)')
    .option('-i, --ignore-case', 'ignore case for pattern')
    .option('-l, --long', 'use a long listing format showing size and mode')
    .option('-O, --oldest <time>', 'oldest modification date/time')
    .option('-N, --newest <time>', 'newest modification date/time')
    .option('-s, --snapshot <id>', 'snapshot ID to search in (repeatable)', collect, [])
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot ID is given (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags, when no snapshot ID is given (repeatable)', collect, [])
    .option('--path <path>', 'only snapshots of this path, when no snapshot ID is given (repeatable)', collect, [])
    .action(async (args: string[], f: FindFlags) => {
      if ([f.blob, f.tree, f.pack].filter(Boolean).length > 1) throw new UsageError('give only one of --blob, --tree and --pack');
      const oldest = f.oldest ? parseTime(f.oldest, '--oldest') : undefined;
      const newest = f.newest ? parseTime(f.newest, '--newest') : undefined;
      await withRepository(ctx, { lock: 'shared' }, async ({ repo }) => {
        const snaps = await snapshotsToSearch(repo, f, ctx);
        if (f.blob || f.tree || f.pack) return findIds(ctx, repo, snaps, args, f);
        const patterns = args.map((a) => parsePattern(f.ignoreCase ? a.toLowerCase() : a));
        const trees = new TreeStore(repo, 1024);
        const results: unknown[] = [];
        for (const snap of snaps) {
          const hits = await findNodes(repo, snap, { patterns, ignoreCase: f.ignoreCase, oldest, newest }, { signal: ctx.signal, trees });
          if (hits.length === 0) continue;
          results.push({ matches: hits.map(matchJSON), hits: hits.length, snapshot: snap.id });
          ctx.out.line(`Found matching entries in snapshot ${snap.id.slice(0, 8)} from ${localTime(snap.date)}`);
          for (const h of hits) {
            if (!f.long) ctx.out.line(h.path);
            else {
              // restic's long format: mode, uid, gid, size, local mtime, path (-> link target).
              const n = h.node;
              const mtime = n.mtime ? localTime(new Date(Date.parse(n.mtime))) : '';
              const target = n.type === 'symlink' && n.linktarget ? ` -> ${n.linktarget}` : '';
              ctx.out.line(`${goModeString(n.mode ?? 0)} ${String(n.uid).padStart(5)} ${String(n.gid).padStart(5)} ${String(n.size ?? 0).padStart(6)} ${mtime} ${h.path}${target}`);
            }
          }
          ctx.out.line();
        }
        ctx.out.result(results);
      });
    });
}

/** The snapshots named by -s, else those the filters select, newest first (as restic). */
async function snapshotsToSearch(repo: Repository, f: FindFlags, ctx: CliContext): Promise<Snapshot[]> {
  if (f.snapshot.length > 0) {
    const out: Snapshot[] = [];
    for (const ref of f.snapshot) out.push(await findSnapshot(repo, ref, { hosts: f.host, tags: tagGroups(f.tag), paths: f.path }, { signal: ctx.signal }));
    return out;
  }
  const all = await listSnapshots(repo, { signal: ctx.signal, onError: (id, err) => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${(err as Error).message}`) });
  return all.filter((s) => matchesFilter(s, { hosts: f.host, tags: tagGroups(f.tag), paths: f.path })).reverse();
}

async function findIds(ctx: CliContext, repo: Repository, snaps: Snapshot[], args: string[], f: FindFlags): Promise<void> {
  for (const a of args) if (!/^[0-9a-f]+$/.test(a)) throw new UsageError(`"${a}" is not an ID (hex digits)`);
  let ids = { blobs: f.blob ? args : [], trees: f.tree ? args : [] };
  if (f.pack) {
    // The blobs of the packs (whole or 8-digit pack IDs), then where those are referenced; the
    // trees of a pack too, as restic 0.17+ finds them (0.14 looked for data blobs only).
    const blobs: string[] = [];
    const trees: string[] = [];
    for (const b of repo.index.blobs()) {
      if (!args.some((p) => p === b.packId || p === b.packId.slice(0, 8))) continue;
      (b.type === 'tree' ? trees : blobs).push(b.id);
    }
    ids = { blobs, trees };
  }
  const all: ObjectHit[] = [];
  const trees = new TreeStore(repo, 1024);
  for (const snap of snaps) {
    const hits = await findObjects(repo, snap, ids, { signal: ctx.signal, trees });
    for (const h of hits) {
      all.push(h);
      ctx.out.line(`Found ${h.object_type} ${h.id}`);
      if (h.object_type === 'blob') {
        ctx.out.line(` ... in file ${h.path}`);
        ctx.out.line(`     (tree ${h.parent_tree ?? ''})`);
      } else ctx.out.line(` ... path ${h.path}`);
      ctx.out.line(` ... in snapshot ${snap.id.slice(0, 8)} (${localTime(snap.date)})`);
    }
  }
  ctx.out.result(all);
  if (f.showPackId) {
    for (const id of new Set(all.map((h) => `${h.object_type === 'blob' ? 'data' : 'tree'} ${h.id}`))) {
      const [type, blob] = id.split(' ') as ['data' | 'tree', string];
      for (const loc of repo.index.lookup(type, blob)) ctx.out.line(`Object ${blob.slice(0, 8)} belongs to pack ${loc.packId}`);
    }
  }
}

/** restic's time formats for --oldest/--newest, in local time. */
function parseTime(s: string, flag: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?))?$/.exec(s.trim());
  const d = m ? new Date(`${m[1]}T${m[2] ?? '00:00'}`) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${flag} ${s}: expected a time like 2006-01-02, "2006-01-02 15:04" or "2006-01-02 15:04:05"`);
  return d;
}

function localTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
