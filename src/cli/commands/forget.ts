/** `lifeboat forget [--keep-* …] [--prune] [--dry-run] [ID…]`: restic's forget. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { listSnapshots, matchesFilter } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import { applyPolicy, groupSnapshots, isEmptyPolicy } from '../../ops/retention-policy.ts';
import type { ExpirePolicy } from '../../ops/retention-policy.ts';
import { collect, parseGroupBy, tagGroups } from './common.ts';
import { existsSync } from 'node:fs';
import { runRetention } from '../../ops/retention.ts';
import { withStack } from '../stack-access.ts';
import { resticDurationProblem } from '../../config/value-checks.ts';
import { formatLocal } from '../../util/time.ts';
import { runPrune } from './prune.ts';
import { nowDate } from '../../util/clock.ts';

interface ForgetFlags {
  keepLast?: string; keepHourly?: string; keepDaily?: string; keepWeekly?: string; keepMonthly?: string; keepYearly?: string;
  keepWithin?: string; keepWithinHourly?: string; keepWithinDaily?: string; keepWithinWeekly?: string; keepWithinMonthly?: string; keepWithinYearly?: string;
  keepTag: string[]; host: string[]; tag: string[]; path: string[]; groupBy: string; dryRun?: boolean; prune?: boolean; maxUnused?: string;
}

const int = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1) throw new UsageError(`${flag} ${v}: expected a whole number (-1 = unlimited)`);
  return n;
};

/** A --keep-within* value: restic's duration (y m d h), checked before anything is opened. */
const within = (v: string | undefined, flag: string): string | undefined => {
  const why = v === undefined || v === '' ? undefined : resticDurationProblem(v);
  if (why !== undefined) throw new UsageError(`${flag}: ${why}`);
  return v;
};

function hasDefaultConfig(): boolean {
  return existsSync('lifeboat.yml');
}

/** `lifeboat forget [--prune]` with lifeboat.yml: each source's retention on its own snapshots (ops/retention). */
async function forgetByRetention(ctx: CliContext, f: ForgetFlags): Promise<void> {
  await withStack(ctx, async (stack) => {
    const { snapshotStoreOf } = await import('../../app/stack.ts');
    const opened = await stack.openRepository('exclusive');
    try {
      const sources = [...stack.sources].map(([name, { config }]) => ({ name, retention: config.retention }));
      const { decisions, removed } = await runRetention(snapshotStoreOf(opened), sources, { now: nowDate(), dryRun: f.dryRun, signal: ctx.signal });
      for (const d of decisions) {
        if (d.policy === null) ctx.out.line(`${d.source}: no retention set, keeping all ${d.keep.length} snapshots`);
        else ctx.out.line(`${d.source}: keep ${d.keep.length}, remove ${d.remove.length}`);
      }
      const perSource = decisions.map((d) => (d.policy === null ? { ...d, keep: d.keep.map((k) => k.id) } : d));
      ctx.out.result({ message_type: 'forget', dry_run: f.dryRun === true, sources: perSource, removed });
      ctx.out.line(`${f.dryRun ? 'would remove' : 'removed'} ${removed.length} snapshot(s)`);
      if (f.prune && !f.dryRun) await runPrune(ctx, opened.repo, { maxUnused: f.maxUnused });
    } finally {
      await opened.close();
    }
  });
}

export function registerForget(program: Command, ctx: CliContext): void {
  program
    .command('forget')
    .description('remove snapshots by ID or by a keep policy (then --prune to free space)')
    .argument('[ids...]', 'snapshot IDs to forget')
    .option('-l, --keep-last <n>', 'keep the last n snapshots')
    .option('-H, --keep-hourly <n>', 'keep the last n hourly snapshots')
    .option('-d, --keep-daily <n>', 'keep the last n daily snapshots')
    .option('-w, --keep-weekly <n>', 'keep the last n weekly snapshots')
    .option('-m, --keep-monthly <n>', 'keep the last n monthly snapshots')
    .option('-y, --keep-yearly <n>', 'keep the last n yearly snapshots')
    .option('--keep-within <duration>', 'keep snapshots newer than duration (e.g. 1y5m7d2h) relative to the latest')
    .option('--keep-within-hourly <duration>', 'keep hourly snapshots within duration')
    .option('--keep-within-daily <duration>', 'keep daily snapshots within duration')
    .option('--keep-within-weekly <duration>', 'keep weekly snapshots within duration')
    .option('--keep-within-monthly <duration>', 'keep monthly snapshots within duration')
    .option('--keep-within-yearly <duration>', 'keep yearly snapshots within duration')
    .option('--keep-tag <tags>', 'keep snapshots with these tags (repeatable)', collect, [])
    .option('--host <host>', 'only consider snapshots of this host (repeatable)', collect, [])
    .option('--tag <tags>', 'only consider snapshots with these tags (repeatable)', collect, [])
    .option('--path <path>', 'only consider snapshots of this path (repeatable)', collect, [])
    .option('-g, --group-by <fields>', 'group snapshots by host, paths, tags', 'host,paths')
    .option('-n, --dry-run', 'only show what would be removed and why the rest is kept')
    .option('--prune', 'prune the repository afterwards')
    .option('--max-unused <percent>', 'with --prune: tolerated unused space (default 5%)')
    .action(async (ids: string[], f: ForgetFlags) => {
      const policy: ExpirePolicy = {
        last: int(f.keepLast, '--keep-last'), hourly: int(f.keepHourly, '--keep-hourly'), daily: int(f.keepDaily, '--keep-daily'),
        weekly: int(f.keepWeekly, '--keep-weekly'), monthly: int(f.keepMonthly, '--keep-monthly'), yearly: int(f.keepYearly, '--keep-yearly'),
        within: within(f.keepWithin, '--keep-within'), withinHourly: within(f.keepWithinHourly, '--keep-within-hourly'),
        withinDaily: within(f.keepWithinDaily, '--keep-within-daily'), withinWeekly: within(f.keepWithinWeekly, '--keep-within-weekly'),
        withinMonthly: within(f.keepWithinMonthly, '--keep-within-monthly'), withinYearly: within(f.keepWithinYearly, '--keep-within-yearly'),
        tags: f.keepTag.length > 0 ? tagGroups(f.keepTag) : undefined,
      };
      if (ids.length === 0 && isEmptyPolicy(policy)) {
        // No flags: apply each source's retention from lifeboat.yml, if there is one.
        if (ctx.globals().config || ctx.env.LIFEBOAT_CONFIG || hasDefaultConfig()) return forgetByRetention(ctx, f);
        // As restic: nothing to decide is not an error; scripts run "forget $POLICY" unconditionally.
        ctx.out.warn('no policy was specified, no snapshots will be removed');
        ctx.out.result({ message_type: 'forget', dry_run: f.dryRun === true, groups: [], removed: [] });
        return;
      }
      await withRepository(ctx, { lock: 'exclusive', loadIndex: false }, async (opened) => {
        const { repo } = opened;
        const all = await listSnapshots(repo, { signal: ctx.signal, onError: (id, err) => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${(err as Error).message}`) });
        const remove: Snapshot[] = [];
        const groupsOut: unknown[] = [];
        if (ids.length > 0) {
          for (const id of ids) {
            const matches = all.filter((s) => s.id.startsWith(id));
            if (matches.length !== 1) throw new UsageError(matches.length === 0 ? `no snapshot with ID ${id}` : `snapshot ID ${id} is ambiguous`);
            remove.push(matches[0] as Snapshot);
          }
        } else {
          const selected = all.filter((s) => matchesFilter(s, { hosts: f.host, tags: tagGroups(f.tag), paths: f.path }));
          const groups = groupSnapshots(selected, parseGroupBy(f.groupBy));
          const now = nowDate();
          for (const [key, snaps] of groups) {
            const decisions = applyPolicy(snaps, policy, now);
            groupsOut.push({ group: key, keep: decisions.filter((d) => d.keep).map((d) => ({ id: d.snapshot.id, reasons: d.reasons })), remove: decisions.filter((d) => !d.keep).map((d) => d.snapshot.id) });
            ctx.out.line(`snapshots for ${key || '(all)'}:`);
            ctx.out.table(
              ['ID', 'Time', 'Host', 'Tags', 'Decision'],
              decisions.map((d) => [d.snapshot.id.slice(0, 8), formatLocal(d.snapshot.date), d.snapshot.hostname ?? '', (d.snapshot.tags ?? []).join(','), d.keep ? `keep: ${d.reasons.join(', ')}` : 'remove']),
            );
            for (const d of decisions) if (!d.keep) remove.push(d.snapshot);
          }
        }
        if (!f.dryRun) {
          for (const s of remove) await repo.storage.remove({ type: 'snapshots', name: s.id }, { signal: ctx.signal });
        }
        ctx.out.result({ message_type: 'forget', dry_run: f.dryRun === true, groups: groupsOut, removed: remove.map((s) => s.id) });
        ctx.out.line(`${f.dryRun ? 'would remove' : 'removed'} ${remove.length} snapshot(s)`);
        if (f.prune && !f.dryRun) await runPrune(ctx, repo, { maxUnused: f.maxUnused });
      });
    });
}
