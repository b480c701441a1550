/**
 * `lifeboat restore SNAPSHOT --target DIR [--include|--exclude PATTERN…]` (restic's restore), and without
 * --target, the stack restore from lifeboat.yml:
 * `lifeboat restore [--only a,b] [--snapshot ID|latest] [--at TIME] [--to …] [--dry-run] [--yes]
 * [--no-safety-snapshot]`. An in-place stack restore first backs up the live data it replaces
 * (tag `pre-restore`) and prints the command that puts it back.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { CancelledError, LifeboatError, UsageError, errorMessage } from '../../core/errors.ts';
import type { TreeNode } from '../../repo/tree/node.ts';
import { fsPath } from '../../repo/tree/raw-names.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot } from '../../repo/snapshot/snapshot.ts';
import { Restorer } from '../../repo/restorer.ts';
import { expectBulkData } from '../../repo/bulk-data.ts';
import type { RestoreOptions } from '../../repo/restorer.ts';
import { childMayMatch, matchesPath, parsePathPattern, pathComponents } from '../../repo/archiver/path-pattern.ts';
import { printResults, withStack } from '../stack-access.ts';
import { formatBytes, formatDuration } from '../output.ts';
import { addLatestFilterOptions, collect, etaText, latestFilter, rateLine } from './common.ts';
import type { LatestFilterFlags } from './common.ts';
import { TreeStore } from '../../repo/tree/tree-io.ts';
import type { Repository } from '../../repo/repository.ts';
import { formatLocal } from '../../util/time.ts';
import { parseAt, warnManyHosts } from './snapshot-choice.ts';
import { stackProgressOptions } from '../stack-progress.ts';
import { asDamage } from '../exit-codes.ts';
import { nowMs } from '../../util/clock.ts';

interface RestoreFlags extends LatestFilterFlags {
  target?: string;
  include: string[];
  exclude: string[];
  overwrite: NonNullable<RestoreOptions['overwrite']>;
  delete?: boolean;
  verify?: boolean;
  only?: string;
  snapshot?: string;
  at?: string;
  to?: string;
  dryRun?: boolean;
  yes?: boolean;
  /** false with --no-safety-snapshot */
  safetySnapshot: boolean;
}

export function registerRestore(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('restore')
    .description('restore a snapshot to a directory (--target), or the sources of lifeboat.yml in dependency order')
    .argument('[snapshot]', 'snapshot ID (or prefix) or "latest"')
    .option('-t, --target <dir>', 'directory to restore a snapshot into (restic mode)')
    .option('-i, --include <pattern>', 'with --target: restore only what matches, under its full path, as restic (repeatable)', collect, [])
    .option('-e, --exclude <pattern>', 'with --target: leave out what matches, as restic (repeatable)', collect, [])
    .option('--overwrite <when>', 'with --target: replace existing files always, if-changed (size or mtime), if-newer or never', parseOverwrite, 'always')
    .option('--delete', 'with --target: delete what restored directories hold that the snapshot does not')
    .option('--verify', 'with --target: read the restored files back and check them against the snapshot')
    .option('--only <sources>', 'stack mode: restore only these sources (comma separated)')
    .option('--snapshot <id>', 'stack mode: restore this snapshot (of one source)')
    .option('--at <time>', 'stack mode: the latest snapshots taken at or before this time (2026-12-01T10:00+01:00, 2026-12-01 10:00 local, 2h ago)')
    .option('--to <target>', 'stack mode: restore into another target (database name, directory, URL; one source)')
    .option('-n, --dry-run', 'print what would be restored (with --target: counts) and stop')
    .option('-y, --yes', 'stack mode: do not ask before replacing data')
    .option('--no-safety-snapshot', 'stack mode: do not back up the live data (tag pre-restore) before an in-place restore replaces it');
  addLatestFilterOptions(cmd)
    .action(async (ref: string | undefined, flags: RestoreFlags) => {
      if (flags.target) return restoreToDir(ctx, ref ?? 'latest', flags);
      if (flags.tag.length + flags.path.length > 0) {
        throw new UsageError('--tag and --path choose the snapshot of a restore with --target', { hint: 'in stack mode, use --only, --snapshot, --at or --host' });
      }
      return restoreStackCommand(ctx, ref, flags);
    });
}

async function restoreToDir(ctx: CliContext, ref: string, flags: RestoreFlags): Promise<void> {
  const started = nowMs();
  expectBulkData();
  await withRepository(ctx, { lock: 'shared' }, async ({ repo }) => {
    const snap = await findSnapshot(repo, ref, latestFilter(flags), { signal: ctx.signal });
    const select = selection(flags);
    if (flags.delete && select) throw new UsageError('--delete cannot be combined with --include or --exclude here', { hint: 'restore the whole snapshot (or a subtree) with --delete' });
    if (flags.dryRun) {
      const t = { files: 0, dirs: 0, bytes: 0 };
      await walkSelected(repo, snap.tree, select, (n) => {
        if (n.type === 'dir') t.dirs++;
        else t.files++;
        if (n.type === 'file') t.bytes += n.size ?? 0;
      });
      ctx.out.result({ message_type: 'summary', dry_run: true, snapshot_id: snap.id, total_files: t.files + t.dirs, files_restored: t.files, dirs_restored: t.dirs, total_bytes: t.bytes });
      ctx.out.line(`would restore snapshot ${snap.id.slice(0, 8)} to ${flags.target as string}: ${t.files} files, ${t.dirs} dirs, ${formatBytes(t.bytes)} (dry run: nothing was written)`);
      return;
    }
    let last = 0;
    let total: number | undefined;
    const restorer = new Restorer(repo, {
      signal: ctx.signal,
      select,
      overwrite: flags.overwrite,
      delete: flags.delete === true,
      onProgress: (p) => {
        const now = nowMs();
        if (now - last < 200) return;
        last = now;
        const pct = total ? `${Math.min(100, (100 * p.bytes) / total).toFixed(1)}%  ` : '';
        const eta = total ? `  ${etaText(p.bytes, total, now - started)}` : '';
        ctx.out.progress(`restoring: ${pct}${p.files} files  ${rateLine(p.bytes, now - started)}${eta}  ${p.current ?? ''}`);
      },
    });
    if (ctx.out.isInteractive) total = await restoreSize(repo, snap.tree);
    const target = flags.target as string;
    const r = await restorer.restore(snap, target).catch((err: unknown) => {
      throw asDamage(err);
    });
    ctx.out.clearProgress();
    if (flags.verify) r.errors.push(...(await verifyRestored(repo, snap.tree, select, target, ctx.signal)));
    ctx.out.result({ message_type: 'summary', snapshot_id: snap.id, files_restored: r.files, files_skipped: r.skipped, files_deleted: r.deleted, dirs_restored: r.dirs, bytes_restored: r.bytes, errors: r.errors, total_duration: (nowMs() - started) / 1000 });
    for (const e of r.errors) ctx.out.warn(`${e.path}: ${e.message}`);
    ctx.out.line(`restored snapshot ${snap.id.slice(0, 8)} to ${target}: ${r.files} files, ${r.dirs} dirs, ${formatBytes(r.bytes)} in ${formatDuration(nowMs() - started)}`);
    if (r.errors.length > 0) {
      // A pack the index names but storage does not have is damage too (its "not found" names data/<id>).
      const integrity = r.errors.some((e) => /damaged|hash|MAC|integrity|\bdata\/[0-9a-f]{64}\b.*not found/i.test(e.message));
      throw new LifeboatError(integrity ? 'integrity' : 'restore_incomplete', `restore incomplete: ${r.errors.length} files could not be restored (first: ${r.errors[0]?.path})`, {
        hint: integrity ? 'run "lifeboat check --read-data" to see the damage' : 'see the warnings above',
      });
    }
  });
}

/**
 * restic's restore filters (cmd_restore.go): an excluded node and everything below it is left
 * out; with includes, a node is restored when a pattern matches it or a parent, and a
 * directory is entered while a pattern may match below it. As restic 0.14, not both at once.
 */
function selection(flags: RestoreFlags): RestoreOptions['select'] {
  if (flags.include.length > 0 && flags.exclude.length > 0) throw new UsageError('--include and --exclude cannot be given together (as restic)');
  const exclude = flags.exclude.map(parsePathPattern);
  if (exclude.length > 0) {
    return (p, node) => {
      const selected = !exclude.some((x) => matchesPath(x, pathComponents(p)));
      return { selected, descend: selected && node.type === 'dir' };
    };
  }
  const include = flags.include.map(parsePathPattern);
  if (include.length === 0) return undefined;
  return (p, node) => {
    const comps = pathComponents(p);
    return { selected: include.some((x) => matchesPath(x, comps)), descend: node.type === 'dir' && include.some((x) => childMayMatch(x, comps)) };
  };
}

function parseOverwrite(v: string): NonNullable<RestoreOptions['overwrite']> {
  if (v === 'always' || v === 'if-changed' || v === 'if-newer' || v === 'never') return v;
  throw new InvalidArgumentError(`"${v}" is not one of always, if-changed, if-newer, never`);
}

/** Visits every node a restore with `select` writes, with its path in the snapshot. */
async function walkSelected(repo: Repository, tree: string, select: RestoreOptions['select'], visit: (n: TreeNode, snapPath: string) => void | Promise<void>): Promise<void> {
  const trees = new TreeStore(repo);
  const walk = async (id: string, dir: string): Promise<void> => {
    for (const n of (await trees.load(id)).nodes) {
      const p = `${dir}${n.name}`;
      const c = select?.(p, n) ?? { selected: true, descend: true };
      if (c.selected) await visit(n, p);
      if (n.type === 'dir' && n.subtree && c.descend) await walk(n.subtree, `${p}/`);
    }
  };
  await walk(tree, '/');
}

/**
 * restic's `restore --verify`: every restored file is read back and each piece compared with
 * the hash of the blob it came from (the blob ID), with the sizes the index records.
 */
async function verifyRestored(repo: Repository, tree: string, select: RestoreOptions['select'], target: string, signal: AbortSignal): Promise<Array<{ path: string; message: string }>> {
  const bad: Array<{ path: string; message: string }> = [];
  await walkSelected(repo, tree, select, async (n, snapPath) => {
    if (n.type !== 'file') return;
    if (signal.aborted) throw new CancelledError();
    const file = path.join(target, snapPath);
    let fh;
    try {
      fh = await open(fsPath(file), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      let offset = 0;
      for (const [i, id] of (n.content ?? []).entries()) {
        const at = repo.index.lookup('data', id)[0];
        const len = at ? (at.uncompressedLength ?? at.length - 32) : 0;
        const buf = Buffer.alloc(len);
        const { bytesRead } = await fh.read(buf, 0, len, offset);
        offset += bytesRead;
        if (bytesRead !== len || createHash('sha256').update(buf).digest('hex') !== id) throw new Error(`content differs from the snapshot in blob ${i + 1} of ${n.content?.length ?? 0}`);
      }
      if ((await fh.stat()).size !== offset) throw new Error(`size ${(await fh.stat()).size} differs from the snapshot's ${offset}`);
    } catch (err) {
      bad.push({ path: file, message: `verify: ${errorMessage(err)}` });
    } finally {
      await fh?.close();
    }
  });
  return bad;
}

/** Sum of file sizes under a tree (trees only, no data read), for the progress line's ETA. */
async function restoreSize(repo: Repository, tree: string): Promise<number> {
  const trees = new TreeStore(repo);
  let total = 0;
  const walk = async (id: string): Promise<void> => {
    for (const n of (await trees.load(id)).nodes) {
      if (n.type === 'file') total += n.size ?? 0;
      else if (n.type === 'dir' && n.subtree) await walk(n.subtree);
    }
  };
  await walk(tree);
  return total;
}

async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function restoreStackCommand(ctx: CliContext, ref: string | undefined, flags: RestoreFlags): Promise<void> {
  if (flags.include.length + flags.exclude.length > 0) throw new UsageError('--include and --exclude need --target');
  if (flags.delete || flags.verify || flags.overwrite !== 'always') throw new UsageError('--overwrite, --delete and --verify need --target');
  const at = flags.at !== undefined ? parseAt(flags.at) : undefined;
  // As restoreToDir: the codec threads load while the repository opens.
  if (!flags.dryRun) expectBulkData();
  await withStack(ctx, async (stack, opts) => {
    const { planStackRestore, restoreStack } = await import('../../app/stack.ts');
    const opened = await stack.openRepository('shared');
    try {
      const only = flags.only ? flags.only.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      const plan = await planStackRestore(stack, opened, { only, snapshot: flags.snapshot ?? ref, at, to: flags.to, hosts: flags.host, noSafetySnapshot: !flags.safetySnapshot });
      const taken = (id: string): string => {
        const snap = plan.snapshots.get(id);
        return snap ? formatLocal(snap.date) : '';
      };
      ctx.out.line('Restore plan (in dependency order):');
      ctx.out.table(
        ['#', 'Source', 'Type', 'Snapshot', 'Host', 'Taken', 'Into', 'Safety snapshot', 'Hooks'],
        plan.items.map((p, i) => [
          i + 1,
          p.source.name,
          p.source.type,
          p.snapshotId.slice(0, 8),
          plan.snapshots.get(p.snapshotId)?.hostname ?? '',
          taken(p.snapshotId),
          p.to ?? '(in place)',
          p.safetySnapshot ? 'first, tag pre-restore' : p.to ? '-' : 'none (--no-safety-snapshot)',
          [...(p.hooks?.before ?? []).map((h) => `before: ${h}`), ...(p.hooks?.after ?? []).map((h) => `after: ${h}`)].join('; '),
        ]),
      );
      for (const m of plan.missing) ctx.out.warn(`source ${m} has no snapshot to restore${flags.host.length ? ` from host ${flags.host.join(' or ')}` : ''}`);
      warnManyHosts(ctx, plan.snapshots.values());
      if (plan.items.length === 0) throw new LifeboatError('not_found', 'nothing to restore: no snapshot matches', { hint: 'run "lifeboat snapshots --tag lifeboat" to see what exists' });
      if (flags.dryRun) {
        ctx.out.result({ dry_run: true, plan: plan.items.map((p) => ({ source: p.source.name, snapshot_id: p.snapshotId, host: plan.snapshots.get(p.snapshotId)?.hostname ?? null, time: plan.snapshots.get(p.snapshotId)?.time ?? null, to: p.to ?? null, safety_snapshot: p.safetySnapshot === true, depends_on: p.dependsOn })), missing: plan.missing });
        return;
      }
      const inPlace = plan.items.filter((p) => !p.to).map((p) => p.source.name);
      if (inPlace.length > 0 && !flags.yes) {
        const keep = flags.safetySnapshot ? ' (a safety snapshot of it is taken first)' : ' (no safety snapshot: --no-safety-snapshot)';
        const ok = await confirm(ctx, `This replaces the live data of ${inPlace.join(', ')}${keep}. Continue?`);
        if (!ok) throw new UsageError('restore not confirmed', { hint: 'run it again and answer "y", or pass --yes' });
      }
      const report = await restoreStack(stack, opened, plan, { ...opts, ...stackProgressOptions(ctx.out) });
      ctx.out.clearProgress();
      ctx.out.result(report);
      printResults(ctx, report.sources, 'restore');
      for (const r of report.sources) for (const d of r.fingerprint_diff ?? []) ctx.out.line(`  ${r.source}: ${d}`);
      for (const r of report.sources) if (r.undo) ctx.out.line(`${r.source}: the replaced data is in safety snapshot ${r.safety_snapshot_id?.slice(0, 8)}; to undo: ${r.undo}`);
      const bad = report.sources.filter((r) => r.status !== 'ok');
      ctx.out.line(`${report.sources.length - bad.length}/${report.sources.length} sources restored and verified against their fingerprints in ${formatDuration(report.duration_ms)}`);
      const undo = bad.filter((b) => b.undo).map((b) => `"${b.undo}"`);
      const undoHint = undo.length > 0 ? `; to put back the data they replaced, run ${undo.join(' and ')}` : '';
      if (report.interrupted) {
        const count = (st: string): number => report.sources.filter((r) => r.status === st).length;
        throw new CancelledError(`restore interrupted: ${count('ok')} source(s) restored, ${count('failed')} failed, ${count('skipped')} not started`, { hint: `see the table above${undoHint}` });
      }
      if (bad.length > 0) {
        if (bad.length === report.sources.length) throw new LifeboatError('restore_failed', `restore failed for ${bad.map((b) => b.source).join(', ')}`, { hint: `see the errors in the table above${undoHint}` });
        ctx.setExitCode(3);
      }
    } finally {
      await opened.close();
    }
  });
}
