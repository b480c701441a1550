/**
 * `lifeboat repair index|snapshots|packs`: restic's repair commands (and 0.14's
 * `rebuild-index`). Each reports what it found and what it changed; none removes data
 * that can still be read.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot, listSnapshots, matchesFilter, replaceSnapshot } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import { rebuildIndex } from '../../repo/repair/index-rebuild.ts';
import { repairSnapshot } from '../../repo/repair/snapshot-repair.ts';
import { salvagePacks } from '../../repo/repair/pack-salvage.ts';
import { collect, tagGroups } from './common.ts';

export function registerRepair(program: Command, ctx: CliContext): void {
  const repair = program.command('repair').description('repair the index, snapshots or pack files');
  repair
    .command('index')
    .description('build a new index from the pack files')
    .option('--read-all-packs', 'read all pack files to generate the index, ignoring the old one')
    .action(async (f: { readAllPacks?: boolean }) => runRepairIndex(ctx, f));
  repair
    .command('snapshots')
    .description('rewrite snapshots to leave out missing trees and blobs (removed data stays lost)')
    .argument('[snapshot...]', 'snapshot IDs (or prefixes, or "latest"); all matching the filters when none')
    .option('--forget', 'remove the original snapshots after creating the new ones')
    .option('-n, --dry-run', 'do not do anything, just print what would be done')
    .option('-H, --host <host>', 'only snapshots of this host, when no snapshot ID is given (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags, when no snapshot ID is given (repeatable)', collect, [])
    .option('--path <path>', 'only snapshots of this path, when no snapshot ID is given (repeatable)', collect, [])
    .action(async (refs: string[], f: RepairSnapshotsFlags) => runRepairSnapshots(ctx, refs, f));
  repair
    .command('packs')
    .description('salvage the readable blobs of damaged pack files, then remove those packs')
    .argument('<pack...>', 'IDs of the damaged packs (as "lifeboat check" names them)')
    .action(async (ids: string[]) => {
      for (const id of ids) if (!/^[0-9a-f]{64}$/.test(id)) throw new UsageError(`"${id}" is not a pack ID (64 hex digits)`);
      await withRepository(ctx, { lock: 'exclusive' }, async ({ repo }) => {
        const r = await salvagePacks(repo, ids, { signal: ctx.signal, onProgress: (l) => ctx.out.line(l) });
        for (const l of r.lost) ctx.out.line(`  ${l.type} blob ${l.blob} of pack ${l.pack.slice(0, 8)} is lost: ${l.error}`);
        ctx.out.line(`salvaged ${r.salvaged} blobs, removed ${r.removedPacks.length} packs`);
        if (r.lost.length > 0) ctx.out.line('run "lifeboat repair snapshots --forget" to remove the lost blobs from the snapshots that use them');
        ctx.out.result({ salvaged_blobs: r.salvaged, lost_blobs: r.lost, removed_packs: r.removedPacks });
      });
    });
}

/** restic 0.14's name for `repair index`, so its scripts keep working. */
export function registerRebuildIndex(program: Command, ctx: CliContext): void {
  program
    .command('rebuild-index')
    .description('build a new index from the pack files (the same as "repair index")')
    .option('--read-all-packs', 'read all pack files to generate the index, ignoring the old one')
    .action(async (f: { readAllPacks?: boolean }) => runRepairIndex(ctx, f));
}

async function runRepairIndex(ctx: CliContext, f: { readAllPacks?: boolean }): Promise<void> {
  await withRepository(ctx, { lock: 'exclusive', loadIndex: false }, async ({ repo }) => {
    const r = await rebuildIndex(repo, { readAllPacks: f.readAllPacks, signal: ctx.signal, onProgress: (l) => ctx.out.line(l) });
    for (const d of r.indexDamaged) ctx.out.warn(`index ${d.id.slice(0, 8)} cannot be read and is replaced: ${d.error}`);
    for (const d of r.packsDamaged) ctx.out.warn(`pack ${d.id} cannot be read and is left out of the index: ${d.error}; run "lifeboat repair packs ${d.id}"`);
    if (r.packsMissing.length > 0) ctx.out.line(`removed ${r.packsMissing.length} missing packs from the index`);
    ctx.out.line(`${r.packs} packs (${r.packsRead} read), ${r.newIndex.length} new index files, ${r.removedIndex.length} old ones removed`);
    ctx.out.result({ packs: r.packs, packs_read: r.packsRead, packs_missing: r.packsMissing, packs_damaged: r.packsDamaged, index_damaged: r.indexDamaged, new_index: r.newIndex, removed_index: r.removedIndex });
  });
}

interface RepairSnapshotsFlags {
  forget?: boolean;
  dryRun?: boolean;
  host: string[];
  tag: string[];
  path: string[];
}

async function runRepairSnapshots(ctx: CliContext, refs: string[], f: RepairSnapshotsFlags): Promise<void> {
  await withRepository(ctx, { lock: f.dryRun ? 'none' : 'exclusive' }, async ({ repo }) => {
    const filter = { hosts: f.host, tags: tagGroups(f.tag), paths: f.path };
    let snaps: Snapshot[];
    if (refs.length > 0) {
      snaps = [];
      for (const r of refs) snaps.push(await findSnapshot(repo, r, filter, { signal: ctx.signal }));
    } else {
      snaps = (await listSnapshots(repo, { signal: ctx.signal, onError: (id, err) => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${(err as Error).message}`) })).filter((s) => matchesFilter(s, filter));
    }
    let changed = 0;
    for (const snap of snaps) {
      ctx.out.line(`\nsnapshot ${snap.id.slice(0, 8)} of [${snap.paths.join(' ')}] at ${snap.time}`);
      const r = await repairSnapshot(repo, snap, { signal: ctx.signal, dryRun: f.dryRun, onLine: (l) => ctx.out.line(l) });
      if (r.kind === 'unchanged') continue;
      changed++;
      if (r.kind === 'remove') {
        if (f.dryRun) ctx.out.line('would delete empty snapshot');
        else {
          await repo.storage.remove({ type: 'snapshots', name: snap.id }, { signal: ctx.signal });
          ctx.out.line(`removed empty snapshot ${snap.id.slice(0, 8)}`);
          ctx.out.result({ message_type: 'removed', snapshot_id: snap.id });
        }
        continue;
      }
      if (f.dryRun) {
        ctx.out.line('would save new snapshot');
        if (f.forget) ctx.out.line('would remove old snapshot');
        continue;
      }
      if (!f.forget) r.doc.tags = [...new Set([...(r.doc.tags ?? []), 'repaired'])];
      await repo.flush({ signal: ctx.signal });
      const newId = await replaceSnapshot(repo, snap, r.doc, { keepOld: !f.forget, originalIsOld: true, signal: ctx.signal });
      ctx.out.line(`saved new snapshot ${newId.slice(0, 8)}`);
      if (f.forget) ctx.out.line(`removed old snapshot ${snap.id.slice(0, 8)}`);
      ctx.out.result({ message_type: 'changed', old_snapshot_id: snap.id, new_snapshot_id: newId });
    }
    ctx.out.result({ message_type: 'summary', changed_snapshots: changed, dry_run: Boolean(f.dryRun) });
    ctx.out.line();
    if (changed === 0) ctx.out.line(f.dryRun ? 'no snapshots would be modified' : 'no snapshots were modified');
    else ctx.out.line(f.dryRun ? `would modify ${changed} snapshots` : `modified ${changed} snapshots`);
  });
}
