/**
 * `lifeboat rewrite --exclude PATTERN [ID…]`: restic's rewrite. New snapshots without the
 * excluded paths (tagged "rewrite", the originals kept), or with --forget in place of the
 * originals. Data is not removed until `prune`.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot, listSnapshots, matchesFilter, replaceSnapshot, snapshotDocument } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot, SnapshotDoc, SnapshotSummary } from '../../repo/snapshot/snapshot.ts';
import type { Repository } from '../../repo/repository.ts';
import { TreeRewriter } from '../../repo/rewriter/tree-rewriter.ts';
import { matchAny, parsePattern } from '../../repo/filter/restic-pattern.ts';
import { formatDate } from '../../util/time.ts';
import { collect, tagGroups } from './common.ts';

interface RewriteFlags {
  exclude: string[];
  iexclude: string[];
  excludeFile: string[];
  iexcludeFile: string[];
  forget?: boolean;
  dryRun?: boolean;
  newHost?: string;
  newTime?: string;
  snapshotSummary?: boolean;
  host: string[];
  tag: string[];
  path: string[];
}

export function registerRewrite(program: Command, ctx: CliContext): void {
  program
    .command('rewrite')
    .description('rewrite snapshots to exclude unwanted files')
    .argument('[snapshot...]', 'snapshot IDs (or prefixes, or "latest"); all matching the filters when none')
    .option('-e, --exclude <pattern>', 'exclude a restic pattern (repeatable)', collect, [])
    .option('--iexclude <pattern>', 'like --exclude, ignoring case (repeatable)', collect, [])
    .option('--exclude-file <file>', 'read exclude patterns from a file (repeatable)', collect, [])
    .option('--iexclude-file <file>', 'like --exclude-file, ignoring case (repeatable)', collect, [])
    .option('--forget', 'remove the original snapshots after creating the new ones')
    .option('-n, --dry-run', 'do not do anything, just print what would be done')
    .option('--new-host <host>', 'replace the hostname')
    .option('--new-time <time>', 'replace the time of the backup ("2006-01-02 15:04:05", local time)')
    .option('-s, --snapshot-summary', 'add a summary to snapshots that have none')
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot ID is given (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags, when no snapshot ID is given (repeatable)', collect, [])
    .option('--path <path>', 'only snapshots of this path, when no snapshot ID is given (repeatable)', collect, [])
    .action(async (refs: string[], f: RewriteFlags) => {
      const patterns = [...f.exclude, ...(await readPatternFiles(f.excludeFile))].map((p) => parsePattern(p));
      const ipatterns = [...f.iexclude, ...(await readPatternFiles(f.iexcludeFile))].map((p) => parsePattern(p.toLowerCase()));
      const hasExcludes = patterns.length + ipatterns.length > 0;
      const newTime = f.newTime !== undefined ? parseLocalTime(f.newTime) : undefined;
      if (!hasExcludes && !f.snapshotSummary && f.newHost === undefined && newTime === undefined) {
        throw new UsageError('nothing to do: no excludes provided and no new metadata provided', { hint: 'give --exclude, --exclude-file, --new-host, --new-time or --snapshot-summary' });
      }
      const lock = f.dryRun ? 'none' : f.forget ? 'exclusive' : 'shared';
      await withRepository(ctx, { lock }, async ({ repo }) => {
        const snaps = await selectSnapshots(repo, refs, f, ctx);
        const excluded = (p: string): boolean => matchAny(patterns, p) || (ipatterns.length > 0 && matchAny(ipatterns, p.toLowerCase()));
        let changed = 0;
        for (const snap of snaps) {
          ctx.out.line(`\nsnapshot ${snap.id.slice(0, 8)} of [${snap.paths.join(' ')}] at ${snap.time}`);
          const doc = await rewriteOne(repo, snap, { excluded: hasExcludes || f.snapshotSummary ? excluded : undefined, addSummary: Boolean(f.snapshotSummary), dryRun: Boolean(f.dryRun), newHost: f.newHost, newTime, out: (l) => ctx.out.line(l), signal: ctx.signal });
          if (!doc) continue;
          changed++;
          if (doc.tree !== snap.tree && (snap.tags ?? []).includes('lifeboat')) {
            ctx.out.warn(`snapshot ${snap.id.slice(0, 8)} is a stack snapshot: its manifest still lists what was excluded, so "lifeboat restore" of that source will report it missing`);
          }
          if (f.dryRun) {
            ctx.out.line('would save new snapshot');
            if (f.forget) ctx.out.line('would remove old snapshot');
            continue;
          }
          if (!f.forget) doc.tags = [...new Set([...(doc.tags ?? []), 'rewrite'])];
          await repo.flush({ signal: ctx.signal });
          const newId = await replaceSnapshot(repo, snap, doc, { keepOld: !f.forget, originalIsOld: true, signal: ctx.signal });
          ctx.out.line(`saved new snapshot ${newId.slice(0, 8)}`);
          if (f.forget) ctx.out.line(`removed old snapshot ${snap.id.slice(0, 8)}`);
          ctx.out.result({ message_type: 'changed', old_snapshot_id: snap.id, new_snapshot_id: newId });
        }
        ctx.out.result({ message_type: 'summary', changed_snapshots: changed, dry_run: Boolean(f.dryRun) });
        ctx.out.line();
        if (changed === 0) ctx.out.line(f.dryRun ? 'no snapshots would be modified' : 'no snapshots were modified');
        else ctx.out.line(f.dryRun ? `would modify ${changed} snapshots` : `modified ${changed} snapshots`);
      });
    });
}

/**
 * The new document of one snapshot, or undefined when nothing would change. Unlike restic
 * 0.17+, a snapshot without a summary whose tree keeps every path is not rewritten just to
 * gain one (that takes --snapshot-summary).
 */
async function rewriteOne(
  repo: Repository,
  snap: Snapshot,
  o: { excluded?: (path: string) => boolean; addSummary: boolean; dryRun: boolean; newHost?: string; newTime?: Date; out: (line: string) => void; signal: AbortSignal },
): Promise<SnapshotDoc | undefined> {
  const doc = snapshotDocument(snap);
  let treeChanged = false;
  let summaryChanged = false;
  if (o.excluded) {
    const excluded = o.excluded;
    const rewriter = new TreeRewriter(repo, {
      rewriteNode: (node, path) => {
        if (!excluded(path)) return node;
        o.out(`excluding ${path}`);
        return undefined;
      },
      dryRun: o.dryRun,
    });
    const r = await rewriter.rewrite(snap.tree, '/', { signal: o.signal });
    treeChanged = r.tree !== snap.tree;
    const summary: SnapshotSummary = { ...(snap.summary ?? emptySummary(snap.time)), total_files_processed: r.files, total_bytes_processed: r.bytes };
    summaryChanged = snap.summary
      ? summary.total_files_processed !== snap.summary.total_files_processed || summary.total_bytes_processed !== snap.summary.total_bytes_processed
      : treeChanged || o.addSummary;
    doc.tree = r.tree;
    if (treeChanged || summaryChanged) doc.summary = summary;
  }
  const hostChanged = o.newHost !== undefined && o.newHost !== snap.hostname;
  const timeChanged = o.newTime !== undefined;
  if (!treeChanged && !summaryChanged && !hostChanged && !timeChanged) return undefined;
  if (hostChanged) {
    o.out(`setting host to ${o.newHost}`);
    doc.hostname = o.newHost;
  }
  if (o.newTime) {
    o.out(`setting time to ${o.newTime.toString()}`);
    doc.time = formatDate(o.newTime);
  }
  return doc;
}

function emptySummary(time: string): SnapshotSummary {
  return {
    backup_start: time, backup_end: time, files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0,
    data_blobs: 0, tree_blobs: 0, data_added: 0, data_added_packed: 0, total_files_processed: 0, total_bytes_processed: 0,
  };
}

async function selectSnapshots(repo: Repository, refs: string[], f: RewriteFlags, ctx: CliContext): Promise<Snapshot[]> {
  const signal = ctx.signal;
  const filter = { hosts: f.host, tags: tagGroups(f.tag), paths: f.path };
  if (refs.length > 0) {
    const out: Snapshot[] = [];
    for (const r of refs) out.push(await findSnapshot(repo, r, filter, { signal }));
    return out;
  }
  const warn = (id: string, err: unknown): void => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read, left as it is: ${(err as Error).message}`);
  return (await listSnapshots(repo, { signal, onError: warn })).filter((s) => matchesFilter(s, filter));
}

/** restic's exclude files: one pattern a line; blank lines and lines starting with # are skipped. */
export async function readPatternFiles(files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read pattern file ${file}: ${(err as Error).message}`, { cause: err });
    }
    for (const line of text.split(/\r?\n/)) {
      const t = line.trim();
      if (t !== '' && !t.startsWith('#')) out.push(t);
    }
  }
  return out;
}

function parseLocalTime(s: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/.exec(s.trim());
  const d = m ? new Date(`${m[1]}T${m[2]}`) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--new-time ${s}: expected a local time like "2006-01-02 15:04:05"`);
  return d;
}
